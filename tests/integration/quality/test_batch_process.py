"""store_batch on a real PostgreSQL: store, idempotency, rejection, windows; the pipeline's
quality step (store, then the after-batch step once)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pgwarden import quality
from pgwarden.quality.batch import DataBatch
from pgwarden.service.pipeline import check_and_alert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = """
rules:
  - {kind: required, fields: [id, timestamp]}
  - {kind: range, field: value, min: 0, max: 100}
  - {kind: unique, field: id, window_batches: 3}
  - {kind: freshness, field: timestamp, max_age: 1h}
  - {kind: schema}
"""
META = {
    "source_system": "crm",
    "pipeline_stage": "ingestion",
    "expected_records": 3,
    "data_freshness": (NOW - timedelta(minutes=5)).isoformat(),
}


def records(prefix: str, n: int = 3, *, bad: bool = False) -> list[dict]:
    out = [
        {"id": f"{prefix}{i}", "timestamp": "2026-11-21T11:59:00Z", "value": 10.0 + i}
        for i in range(n)
    ]
    if bad:
        out[0]["value"] = -999.0
        del out[1]["timestamp"]
    return out


def batch(batch_id: str, recs, at: datetime = NOW, **kw) -> DataBatch:
    return DataBatch(source="crm", records=recs, id=batch_id, received_at=at, metadata=META, **kw)


def test_stores_metrics_and_violations_and_reads_them_back(services):
    quality.set_rules(services, "crm", RULES, who="test")
    result = store(services, batch("b1", records("a", bad=True)), now=NOW)
    assert result.status == quality.BatchStatus.ACCEPTED
    assert {v.rule: v.count for v in result.violations} == {
        "required:timestamp": 1,
        "range:value": 1,
    }
    stored = quality.get_batch(services, "b1")
    assert stored is not None
    assert stored.scores == result.scores
    assert {v.rule for v in stored.violations} == {"required:timestamp", "range:value"}
    assert stored.violations[0].sample_ids in (("a0",), ("a1",))
    with services.db.connection() as conn:
        row = conn.execute(
            "SELECT records, expected_records, missing_values, out_of_range, violation_count,"
            " processing_seconds > 0, records_per_second > 0, input_bytes > 0, level,"
            " metadata->>'source_system',"
            " field_count = (SELECT count(*) FROM jsonb_object_keys(field_stats)), field_count"
            " FROM quality_batches WHERE batch_id = 'b1'"
        ).fetchone()
    assert row == (3, 3, 1, 1, 2, True, True, True, str(result.scores.level), "crm", True, 3)
    listed = quality.list_batches(services, source="crm")
    assert [b.batch_id for b in listed] == ["b1"]
    assert quality.list_batches(services, status="rejected") == []
    assert quality.get_batch(services, "nope") is None


def store(services, b: DataBatch, now: datetime) -> quality.BatchResult:
    return quality.store_batch(services, b, now=now).result


def test_same_batch_id_is_stored_once_and_the_hook_runs_once(services, monkeypatch):
    calls = []
    monkeypatch.setattr(quality, "after_batch", lambda conn, schema, r, cfg, tz: calls.append(r))
    first = check_and_alert(services, batch("b2", records("x")), now=NOW)
    again = check_and_alert(services, batch("b2", records("y", 5)), now=NOW)
    assert again.records == first.records == 3
    assert len(calls) == 1
    with services.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM quality_batches").fetchone() == (1,)


def test_a_failing_hook_does_not_lose_the_batch(services, monkeypatch, caplog):
    def boom(conn, schema, r, cfg, tz):
        conn.execute("CREATE TABLE hook_trace (x int)")
        raise RuntimeError("alerting is down")

    monkeypatch.setattr(quality, "after_batch", boom)
    result = check_and_alert(services, batch("b3", records("h")), now=NOW)
    assert result.status == quality.BatchStatus.ACCEPTED
    assert quality.get_batch(services, "b3") is not None
    assert "alerting is down" in caplog.text
    with services.db.connection() as conn:  # the hook's own writes were rolled back
        assert conn.execute("SELECT to_regclass('hook_trace')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("payload", "fmt", "needle"),
    [
        (b'{"id": 1}\n{"id": ', "ndjson", "broken JSON"),
        (b'{"id": "\xff\xfe"}\n', "ndjson", "not UTF-8"),
        (b"[1, 2, 3]", "json", "not a list of objects"),
        (b"", "ndjson", "empty batch"),
        ([], None, "empty batch"),
        ([{"id": 1}, "junk"], None, "not a list of objects"),
    ],
)
def test_bad_batches_are_stored_as_rejected_with_the_reason(services, payload, fmt, needle):
    result = store(services, batch("bad", payload, fmt=fmt), now=NOW)
    assert result.status == quality.BatchStatus.REJECTED
    assert needle in result.reject_reason and "'crm'" in result.reject_reason
    stored = quality.get_batch(services, "bad")
    assert stored.status == quality.BatchStatus.REJECTED
    assert stored.reject_reason == result.reject_reason
    assert stored.scores is None


def test_a_huge_string_value_rejects_the_batch_naming_the_field(services):
    recs = records("s")
    recs[2]["note"] = "x" * (10 * 1024 * 1024)
    result = store(services, batch("big", recs), now=NOW)
    assert result.status == quality.BatchStatus.REJECTED
    assert "'note'" in result.reject_reason and "10,485,760-byte" in result.reject_reason


@pytest.mark.parametrize(
    "payload, fmt, field",
    [
        (b'{"id": "a\\u0000b", "timestamp": "2026-11-21T11:59:00Z"}\n', "jsonl", "'id'"),
        (b'[{"id": "a", "n\\u0000ote": 1}]', "json", "'n\\x00ote'"),
        (b"id,timestamp\na\x00b,2026-11-21T11:59:00Z\n", "csv", "'id'"),
        ([{"id": "a\x00b", "timestamp": "2026-11-21T11:59:00Z"}], None, "'id'"),
    ],
)
def test_a_nul_character_rejects_the_batch_naming_the_field(services, payload, fmt, field):
    # PostgreSQL text cannot hold NUL: such a batch used to fail every attempt to
    # store its result (a unique id, a sample id) and end FAILED after its retries
    quality.set_rules(services, "crm", RULES, who="test")
    b = DataBatch(source="crm", records=payload, fmt=fmt, id=f"nul-{fmt}", received_at=NOW)
    result = quality.store_batch(services, b, now=NOW).result
    assert result.status == quality.BatchStatus.REJECTED
    assert field in result.reject_reason and "NUL character" in result.reject_reason
    assert quality.get_batch(services, b.id).reject_reason == result.reject_reason
    # a backslash-u written out in a value is only text, not a NUL
    fine = b'{"id": "a\\\\u0000b", "timestamp": "2026-11-21T11:59:00Z"}\n'
    ok = quality.store_batch(
        services,
        DataBatch(source="crm", records=fine, fmt="jsonl", id="not-nul", received_at=NOW),
        now=NOW,
    ).result
    assert ok.status == quality.BatchStatus.ACCEPTED


def test_cross_batch_uniqueness_over_the_last_n_batches(services):
    quality.set_rules(services, "crm", RULES, who="test")
    store(services, batch("w1", records("a")), now=NOW)
    later = NOW + timedelta(minutes=1)
    second = store(
        services,
        batch(
            "w2", records("a", 1) + [{"id": "new", "timestamp": "2026-11-21T12:00:00Z"}], at=later
        ),
        now=later,
    )
    dup = {v.rule: v for v in second.violations}["unique:id"]
    assert dup.count == 1 and dup.sample_ids == ("a0",)
    # four batches later, w1 is out of the 3-batch window
    for i in range(3):
        at = later + timedelta(minutes=i + 1)
        store(services, batch(f"f{i}", records(f"f{i}-"), at=at), now=at)
    at = later + timedelta(minutes=10)
    late = store(services, batch("w3", records("a", 2), at=at), now=at)
    assert "unique:id" not in {v.rule for v in late.violations}


def test_cross_batch_uniqueness_over_the_last_hours(services):
    # ids repeating one stored within the hour are flagged; three hours on they are not
    quality.set_rules(services, "crm", RULES.replace("window_batches: 3", "window_hours: 1"), "t")
    store(services, batch("h1", records("a")), now=NOW)
    soon = NOW + timedelta(minutes=30)
    second = store(services, batch("h2", records("a", 2), at=soon), now=soon)
    assert {v.rule: v.count for v in second.violations}["unique:id"] == 2
    later = NOW + timedelta(hours=3)
    third = store(services, batch("h3", records("a", 1) + records("z", 1), at=later), now=later)
    assert "unique:id" not in {v.rule for v in third.violations}


def test_schema_drift_against_the_learned_schema(services):
    quality.set_rules(services, "crm", RULES, who="test")
    store(services, batch("s1", records("a")), now=NOW)
    changed = [dict(r, extra="x") for r in records("b")]
    for r in changed:
        del r["value"]
    result = store(services, batch("s2", changed), now=NOW)
    drift = {v.rule: v for v in result.violations}["schema"]
    assert drift.count == 2
    assert "appeared: extra" in drift.message and "vanished: value" in drift.message


def test_ndjson_bytes_and_metadata_checks(services):
    data = "\n".join(json.dumps(r) for r in records("n")).encode()
    meta = {"expected_records": 0, "data_freshness": "2026-11-21T09:00:00Z"}
    result = store(
        services,
        DataBatch(source="crm", records=data, id="n1", received_at=NOW, metadata=meta),
        now=NOW,
    )
    # no rules stored for crm here: the seed's defaults, whose only miss is `data`
    rules = {v.rule for v in result.violations}
    assert rules == {
        "required:data",
        "metadata:source_system",
        "metadata:pipeline_stage",
        "metadata:data_freshness",
        "metadata:expected_records",
    }
    assert result.input_bytes == len(data)
