"""The memory ceiling: a batch checked in chunks gives the counts, scores and sample ids
of the same batch checked whole (pure; no database)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.config.keys import ALL_KEYS
from pgwarden.errors import ConfigValueInvalid
from pgwarden.quality.batch import DataBatch, csv_chunks, ndjson_chunks, read_batch
from pgwarden.quality.check import CheckOptions, check_batch, chunked
from pgwarden.quality.chunked import evaluate_chunks
from pgwarden.quality.errors import BatchInvalid
from pgwarden.quality.evaluator import CheckContext, evaluate
from pgwarden.quality.model import BatchStatus
from pgwarden.quality.rules import parse_yaml

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = """
metadata_checks: false
rules:
  - {kind: required, fields: [id, timestamp, data.value]}
  - {kind: type, field: data.status, type: string}
  - {kind: type, field: code}
  - {kind: range, field: data.value, min: 1, max: 1000}
  - {kind: allowed, field: data.status, values: [active, idle]}
  - {kind: regex, field: user, pattern: "^u[0-9]+$"}
  - {kind: unique, field: id}
  - {kind: unique, field: user, window_batches: 3}
  - {kind: freshness, field: timestamp, max_age: 1h, max_future: 0}
"""


def records(n: int, *, mixed_times: bool = False) -> list[dict]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        ts = NOW - timedelta(seconds=rnd.random() * 4500)
        rec = {
            "id": f"r{i}",
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "data": {"value": rnd.randint(1, 1000), "status": rnd.choice(["active", "idle"])},
            "user": f"u{rnd.randint(1, 5 * n)}",
            "code": str(rnd.randint(1, 99)),
        }
        roll = rnd.random()
        if roll < 0.03:
            del rec["timestamp"]
        elif roll < 0.06:
            rec["data"]["value"] = -999
        elif roll < 0.08:
            rec["data"]["status"] = "gone"
        elif roll < 0.09:
            rec["user"] = f"x{i}"
        elif roll < 0.10:
            rec["code"] = "{}" if i % 2 else "true"
        if i > 10 and rnd.random() < 0.02:
            rec["id"] = f"r{rnd.randrange(i)}"  # a duplicate, mostly in an earlier chunk
        out.append(rec)
    if mixed_times:  # one late record of another shape: both paths parse the field
        out[-3]["timestamp"] = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    return out


def ndjson(recs: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in recs).encode()


def findings(ev):
    return [(f.rule.name, f.count, f.sample_ids, f.detail) for f in ev.findings]


@pytest.mark.parametrize("mixed_times", [False, True])
def test_chunks_give_the_counts_and_sample_ids_of_the_whole(mixed_times):
    data = ndjson(records(3000, mixed_times=mixed_times))
    rules = parse_yaml("src", RULES)
    context = CheckContext(seen={"unique:user": ["u17", "u400"]})
    whole = evaluate(read_batch(data), rules, NOW, context)
    pieces = list(ndjson_chunks(data, 20_000))
    assert len(pieces) > 10  # so duplicates and samples span chunks
    parts = evaluate_chunks(lambda: ndjson_chunks(data, 20_000), rules, NOW, context)

    assert findings(parts) == findings(whole)
    by_rule = {f.rule.name: f for f in whole.findings}
    assert by_rule["unique:id"].count > 20  # duplicates exist, across chunks
    assert by_rule["type:code"].count > 0  # the dominant kind decided over all chunks
    for name in (
        "records",
        "missing_required",
        "incomplete_records",
        "type_mismatches",
        "typed_values",
        "invalid_records",
        "out_of_range",
        "duplicates",
        "stale",
        "timed_records",
        "observed_fields",
    ):
        assert getattr(parts, name) == getattr(whole, name), name
    stats, ref = parts.field_stats["data.value"], whole.field_stats["data.value"]
    assert stats["nulls"] == ref["nulls"]
    for key in ("count", "min", "max"):
        assert stats["numeric"][key] == ref["numeric"][key]
    for key in ("mean", "std"):
        assert stats["numeric"][key] == pytest.approx(ref["numeric"][key], rel=1e-12)


def test_check_batch_chunks_a_batch_over_the_ceiling_with_equal_scores(tmp_path):
    data = ndjson(records(18_000))
    path = tmp_path / "batch.jsonl"
    path.write_bytes(data)
    rules = parse_yaml("src", RULES)
    small = CheckOptions(max_memory_mb=1)  # 1 MB: chunks of 1 MB of input
    big = CheckOptions()
    batch = DataBatch(source="src", records=path, id="b", received_at=NOW)
    assert chunked(batch, small) and not chunked(batch, big)
    assert len(data) > 2 * small.chunk_bytes()
    parts = check_batch(batch, rules, NOW, options=small)
    whole = check_batch(batch, rules, NOW, options=big)
    assert parts.status == whole.status == BatchStatus.ACCEPTED
    assert parts.scores == whole.scores
    assert parts.counts == whole.counts
    assert parts.rule_counts == whole.rule_counts
    assert parts.violations == whole.violations
    from_bytes = check_batch(replace(batch, records=data), rules, NOW, options=small)
    assert from_bytes.violations == whole.violations


def test_a_chunked_batch_with_a_too_long_value_is_rejected_like_a_whole_one(tmp_path):
    recs = records(12_000)
    recs[9_000]["user"] = "u" + "9" * 5000
    batch = DataBatch(source="src", records=ndjson(recs), id="b", received_at=NOW)
    rules = parse_yaml("src", RULES)
    parts = check_batch(
        batch, rules, NOW, options=CheckOptions(max_memory_mb=1, max_value_bytes=2048)
    )
    whole = check_batch(batch, rules, NOW, options=CheckOptions(max_value_bytes=2048))
    assert parts.status == whole.status == BatchStatus.REJECTED
    assert parts.reject_reason == whole.reject_reason
    assert "5,001-byte string" in parts.reject_reason


def test_a_late_line_of_another_type_reads_whole_and_is_rejected_the_same(tmp_path):
    recs = records(12_000)
    recs[11_000]["data"]["value"] = 1.5  # not an integer: polars refuses the whole batch
    batch = DataBatch(source="src", records=ndjson(recs), id="b", received_at=NOW)
    rules = parse_yaml("src", RULES)
    parts = check_batch(batch, rules, NOW, options=CheckOptions(max_memory_mb=1))
    whole = check_batch(batch, rules, NOW)
    assert parts.status == whole.status
    assert parts.reject_reason == whole.reject_reason


@pytest.mark.parametrize("bad", [0, 63, -5, "lots", 2_000_000])
def test_a_bad_max_memory_mb_names_the_key_and_the_value(bad):
    key = ALL_KEYS["quality.max_memory_mb"]
    assert key.default == 512
    with pytest.raises(ConfigValueInvalid) as caught:
        key.coerce(bad)
    assert "quality.max_memory_mb" in str(caught.value)
    assert repr(bad) in str(caught.value) or str(bad) in str(caught.value)


CSV_RULES = """
metadata_checks: false
rules:
  - {kind: required, fields: [id, timestamp, value]}
  - {kind: range, field: value, min: 1, max: 1000}
  - {kind: allowed, field: status, values: [active, idle]}
  - {kind: regex, field: user, pattern: "^u[0-9]+$"}
  - {kind: unique, field: id}
  - {kind: freshness, field: timestamp, max_age: 1h, max_future: 0}
"""


def csv_text(n: int, *, crlf: bool = False) -> bytes:
    """A CSV batch with quoted commas, quoted line breaks and doubled quotes in `note`."""
    rnd = random.Random(11)
    end = "\r\n" if crlf else "\n"
    lines = ["id,user,value,status,timestamp,note"]
    for i in range(n):
        stamp = (NOW - timedelta(minutes=rnd.randrange(90))).strftime("%Y-%m-%dT%H:%M:%SZ")
        value = "" if rnd.random() < 0.03 else str(rnd.randrange(-5, 1100))
        rid = f"r{rnd.randrange(i)}" if i > 10 and rnd.random() < 0.02 else f"r{i}"
        note = rnd.choice(["plain", '"a, b"', '"two\nlines"', '"say ""hi"""', ""])
        status = rnd.choice(["active", "idle", "gone"])
        lines.append(f"{rid},u{rnd.randrange(500)},{value},{status},{stamp},{note}")
    return (end.join(lines) + end).encode()


@pytest.mark.parametrize("crlf", [False, True])
def test_csv_chunks_give_the_counts_and_sample_ids_of_the_whole(crlf):
    data = csv_text(4000, crlf=crlf)
    rules = parse_yaml("src", CSV_RULES)
    whole = evaluate(read_batch(data, "csv"), rules, NOW, CheckContext())
    pieces = list(csv_chunks(data, 20_000))
    assert len(pieces) > 5 and sum(p.height for p in pieces) == 4000
    assert all(p.schema == pieces[0].schema for p in pieces)
    parts = evaluate_chunks(lambda: csv_chunks(data, 20_000), rules, NOW, CheckContext())
    assert findings(parts) == findings(whole)
    by_rule = {f.rule.name: f for f in whole.findings}
    assert by_rule["unique:id"].count > 10 and by_rule["range:value"].count > 10
    for name in ("records", "missing_required", "invalid_records", "out_of_range", "duplicates"):
        assert getattr(parts, name) == getattr(whole, name), name


def test_a_csv_file_over_the_ceiling_is_checked_in_chunks_with_equal_results(tmp_path):
    data = csv_text(60_000)
    path = tmp_path / "batch.csv"
    path.write_bytes(data)
    rules = parse_yaml("src", CSV_RULES)
    small, big = CheckOptions(max_memory_mb=1), CheckOptions()
    batch = DataBatch(source="src", records=path, id="b", received_at=NOW)
    assert chunked(batch, small) and not chunked(batch, big)
    assert len(data) > 2 * small.chunk_bytes("csv")
    parts = check_batch(batch, rules, NOW, options=small)
    whole = check_batch(batch, rules, NOW, options=big)
    assert parts.status == whole.status == BatchStatus.ACCEPTED
    assert parts.scores == whole.scores and parts.counts == whole.counts
    assert parts.violations == whole.violations


def test_a_ragged_csv_row_in_a_late_chunk_is_named_by_its_line_in_the_batch():
    lines = csv_text(3000).decode().splitlines(keepends=True)
    at = next(
        i for i in range(2500, 3000) if "\n" not in lines[i].rstrip("\n") and '"' not in lines[i]
    )
    lines[at] = lines[at].rstrip("\n") + ",extra\n"
    data = "".join(lines).encode()
    with pytest.raises(BatchInvalid) as whole:
        read_batch(data, "csv")
    with pytest.raises(BatchInvalid) as parts:
        list(csv_chunks(data, 10_000))
    assert str(parts.value) == str(whole.value)
    assert f"line {at + 1}" in str(parts.value)


def test_an_empty_csv_body_is_an_empty_batch(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(BatchInvalid, match="empty batch"):
        list(csv_chunks(path, 10_000))
    with pytest.raises(BatchInvalid, match="empty batch"):
        list(csv_chunks(b"id,value\n", 10_000))
