"""Rule semantics of the one-pass engine and check_batch (pure; no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pgwarden.quality.batch import DataBatch, read_batch
from pgwarden.quality.check import CheckOptions, check_batch
from pgwarden.quality.errors import BatchInvalid
from pgwarden.quality.evaluator import CheckContext
from pgwarden.quality.model import BatchStatus, QualityLevel
from pgwarden.quality.rules import Rule, build, parse_yaml

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
META = {"source_system": "s", "pipeline_stage": "ingestion", "expected_records": 4}


def run(records, yaml_text, *, context=None, meta=META, **kw):
    rules = parse_yaml("src", yaml_text)
    batch = DataBatch(source="src", records=records, id="b", received_at=NOW, metadata=meta, **kw)
    return check_batch(batch, rules, NOW, context=context)


def counts(result):
    return {v.rule: v.count for v in result.violations}


def test_required_counts_nulls_and_absent_fields_with_sample_ids():
    recs = [{"id": "a", "t": 1}, {"id": "b", "t": None}, {"id": "c"}, {"id": "d", "t": 2}]
    result = run(recs, "rules: [{kind: required, fields: [t, missing]}]")
    assert counts(result) == {"required:t": 2, "required:missing": 4}
    by = {v.rule: v for v in result.violations}
    assert by["required:t"].sample_ids == ("b", "c")
    assert result.counts["missing_values"] == 6
    # record level (seed 004): "missing" is absent, so no record has every required field
    assert result.counts["incomplete_records"] == 4
    assert result.scores.completeness == 0.0
    # cell level, chosen in the rules: 6 missing of 4 records x 2 fields
    cells = run(recs, "completeness: cell\nrules: [{kind: required, fields: [t, missing]}]")
    assert cells.scores.completeness == pytest.approx(1 - 6 / 8)


def test_completeness_counts_records_like_the_seed_by_default():
    # seed 004: 5 of 100 records without a timestamp -> 0.95 (cells would say 0.983)
    recs = [
        {
            "id": f"r{i}",
            "data": {"v": i},
            **({} if i < 5 else {"timestamp": "2026-11-21T11:59:00Z"}),
        }
        for i in range(100)
    ]
    text = "rules: [{kind: required, fields: [id, timestamp, data]}]"
    record = run(recs, text)
    assert record.counts["incomplete_records"] == 5
    assert record.scores.completeness == pytest.approx(0.95)
    cell = run(recs, "completeness: cell\n" + text)
    assert cell.scores.completeness == pytest.approx(1 - 5 / 300)
    # a record missing two fields counts once
    two = run([{"id": "a"}, {"id": "b", "timestamp": "t", "data": 1}], text)
    assert two.counts["incomplete_records"] == 1 and two.scores.completeness == 0.5


def test_range_allowed_regex_custom_and_accuracy_union():
    recs = [
        {"id": "a", "v": 5, "c": "A", "u": "u1"},
        {"id": "b", "v": 500, "c": "Z", "u": "u2"},  # range + allowed: one bad record
        {"id": "c", "v": None, "c": "A", "u": "x9"},  # regex
        {"id": "d", "v": 7, "c": "B", "u": "u4"},
    ]
    text = """
rules:
  - {kind: range, field: v, min: 0, max: 100}
  - {kind: allowed, field: c, values: [A, B]}
  - {kind: regex, field: u, pattern: '^u[0-9]+$'}
  - {name: small, kind: custom, expr: 'v < 6'}
"""
    result = run(recs, text)
    assert counts(result) == {"range:v": 1, "allowed:c": 1, "regex:u": 1, "small": 2}
    # records b, c, d break something: accuracy counts records, not violations
    assert result.counts["invalid_records"] == 3
    assert result.scores.accuracy == pytest.approx(0.25)
    assert result.counts["out_of_range"] == 1


def test_unique_within_the_batch_counts_every_occurrence_exactly():
    recs = [{"id": i} for i in ["a", "b", "a", "c", "a", None, None, "c"]]
    result = run(recs, "rules: [{kind: unique, field: id}]")
    dup = {v.rule: v for v in result.violations}["unique:id"]
    assert dup.count == 5  # a x3, c x2; nulls are the required rule's business
    assert set(dup.sample_ids) == {"a", "c"}
    assert result.counts["duplicates"] == 5


def test_unique_across_batches_uses_the_seen_values_from_the_context():
    recs = [{"id": "old1"}, {"id": "new"}, {"id": "new"}]
    ctx = CheckContext(seen={"unique:id": ["old1"]})
    result = run(recs, "rules: [{kind: unique, field: id, window_batches: 5}]", context=ctx)
    assert counts(result) == {"unique:id": 3}


def test_freshness_compares_iso_text_and_counts_stale_and_future():
    stamps = [
        "2026-11-21T11:30:00.000000Z",  # fresh
        "2026-11-21T10:59:59.999999Z",  # stale
        "2026-11-21T12:10:00.000000Z",  # too far ahead (> 5 min)
        None,
    ]
    recs = [{"id": str(i), "ts": s} for i, s in enumerate(stamps)]
    result = run(recs, "rules: [{kind: freshness, field: ts, max_age: 1h}]")
    fresh = {v.rule: v for v in result.violations}["freshness:ts"]
    assert fresh.count == 2 and set(fresh.sample_ids) == {"1", "2"}
    assert "compared as text" in fresh.message
    assert result.counts["timed_records"] == 3
    assert result.scores.timeliness == pytest.approx(1 / 3)


def test_freshness_falls_back_to_parsing_mixed_shapes_and_flags_unreadable_values():
    stamps = [
        "2026-11-21T11:30:00Z",
        "2026-11-21T13:30:00+02:00",  # = 11:30 UTC, fresh
        "2026-11-21 09:00:00",  # naive = UTC, stale
        "yesterday",  # not a timestamp
    ]
    recs = [{"id": str(i), "ts": s} for i, s in enumerate(stamps)]
    result = run(recs, "rules: [{kind: freshness, field: ts, max_age: 1h}]")
    by = {v.rule: v for v in result.violations}
    assert by["freshness:ts"].count == 1 and by["freshness:ts"].sample_ids == ("2",)
    assert "parsed" in by["freshness:ts"].message
    assert by["type:ts"].count == 1 and "'yesterday'" in by["type:ts"].message
    assert result.counts["type_mismatches"] == 1


def test_a_timestamp_in_other_digits_is_unreadable_not_stale():
    # the shape that lets timestamps be compared as text takes ASCII digits only: in
    # Arabic-Indic or full-width digits a year sorts after every ASCII date
    stamps = [
        "2026-11-21T11:30:00Z",
        "\u0662\u0660\u0662\u0666-11-21T11:30:00Z",
        "\uff12\uff10\uff12\uff16-11-21T11:45:00Z",
    ]
    recs = [{"id": str(i), "ts": s} for i, s in enumerate(stamps)]
    result = run(recs, "rules: [{kind: freshness, field: ts, max_age: 1h}]")
    by = {v.rule: v for v in result.violations}
    assert "freshness:ts" not in by
    assert by["type:ts"].count == 2 and by["type:ts"].sample_ids == ("1", "2")


def test_nested_junk_where_a_number_belongs_is_a_type_mismatch_naming_the_value():
    recs = [{"id": "a", "v": 1.5}, {"id": "b", "v": {"deep": [1, 2]}}, {"id": "c", "v": 3}]
    result = run(recs, "rules: [{kind: range, field: v, min: 0, max: 10}]")
    by = {v.rule: v for v in result.violations}
    assert by["type:v"].count == 1 and by["type:v"].sample_ids == ("b",)
    assert "expected number" in by["type:v"].message and "deep" in by["type:v"].message
    assert "range:v" not in by
    assert result.scores.consistency == pytest.approx(2 / 3)


def test_dominant_type_when_none_is_declared():
    recs = [{"id": str(i), "v": x} for i, x in enumerate(["1", "2", "3", "abc"])]
    result = run(recs, "rules: [{kind: type, field: v}]")
    assert counts(result) == {"type:v": 1}


def test_struct_fields_are_addressed_with_dots():
    recs = [{"id": "a", "data": {"value": 5}}, {"id": "b", "data": {"value": -999}}]
    result = run(recs, "rules: [{kind: range, field: data.value, min: 1, max: 1000}]")
    assert counts(result) == {"range:data.value": 1}
    stats = result.field_stats["data.value"]["numeric"]
    assert stats["min"] == -999 and stats["max"] == 5 and stats["count"] == 2
    assert sum(stats["histogram"]["counts"]) == 2


def test_row_count_and_schema_drift_are_batch_level():
    recs = [{"id": "a", "new": 1}]
    ctx = CheckContext(learned_fields={"id": "String", "old": "Int64"})
    result = run(
        recs,
        "rules: [{kind: row_count, tolerance: 0.1}, {kind: schema}]",
        context=ctx,
        meta={**META, "expected_records": 10},
    )
    by = {v.rule: v for v in result.violations}
    assert by["row_count"].count == 9
    assert by["schema"].count == 2 and "appeared: new" in by["schema"].message


def test_metadata_checks_hold_by_default_and_can_be_switched_off():
    meta = {"expected_records": 2_000_000, "data_freshness": "2026-11-21T10:00:00Z"}
    result = run([{"id": "a"}], "rules: []", meta=meta)
    assert set(counts(result)) == {
        "metadata:source_system",
        "metadata:pipeline_stage",
        "metadata:data_freshness",
        "metadata:expected_records",
    }
    quiet = run([{"id": "a"}], "metadata_checks: false", meta=meta)
    assert quiet.violations == ()
    bad = run([{"id": "a"}], "rules: []", meta={**META, "expected_records": "lots"})
    assert "'lots'" in {v.rule: v for v in bad.violations}["metadata:expected_records"].message


def test_samples_are_capped_and_python_rules_work():
    recs = [{"id": f"r{i}", "n": i} for i in range(100)]
    rules = build("src", [Rule(kind="custom", name="even", expr=pl.col("n") % 2 == 0)])
    batch = DataBatch(source="src", records=recs, id="b", received_at=NOW, metadata=META)
    result = check_batch(batch, rules, NOW, options=CheckOptions(sample_size=7))
    (v,) = [v for v in result.violations if v.rule == "even"]
    assert v.count == 50 and len(v.sample_ids) == 7


def test_a_perfect_batch_is_excellent_and_scores_are_explained():
    recs = [{"id": str(i), "v": i} for i in range(10)]
    result = run(recs, "rules: [{kind: required, field: v}, {kind: unique, field: id}]")
    assert result.scores.overall == 1.0 and result.scores.level == QualityLevel.EXCELLENT
    assert result.rule_counts == {"required:v": 0, "unique:id": 0}


@pytest.mark.parametrize(
    ("data", "fmt", "needle"),
    [
        ({"a": 1}, None, "not a list of objects"),
        ([1, 2], None, "not a list of objects"),
        ([], None, "empty batch"),
        (b'{"a": 1}\n{"a": \n', "ndjson", "broken JSON"),
        (b'{"a": "\xc3\x28"}\n', "ndjson", "not UTF-8"),
        (b'{"a": 1}\n[1, 2]\n', "ndjson", "not a JSON object"),
        (b"[1, 2]", "json", "not a list of objects"),
        (b"   ", "ndjson", "empty batch"),
    ],
)
def test_unreadable_input_is_refused_naming_the_source(data, fmt, needle):
    with pytest.raises(BatchInvalid) as info:
        read_batch(data, fmt, source="orders")
    assert needle in str(info.value) and "'orders'" in str(info.value)
    batch = DataBatch(source="orders", records=data, fmt=fmt, received_at=NOW)
    result = check_batch(batch, parse_yaml("orders", "rules: []"), NOW)
    assert result.status == BatchStatus.REJECTED and needle in result.reject_reason


def test_every_format_reads_to_the_same_frame(tmp_path):
    recs = [{"id": "a", "v": 1.5}, {"id": "b", "v": None}]
    frame = pl.DataFrame(recs)
    csv_path = tmp_path / "x.csv"
    frame.write_csv(csv_path)
    pq_path = tmp_path / "x.parquet"
    frame.write_parquet(pq_path)
    arrow_path = tmp_path / "x.arrow"
    frame.write_ipc(arrow_path)
    ndjson = "\n".join(json.dumps(r) for r in recs).encode()
    for data, fmt in [
        (recs, None),
        (ndjson, None),
        (json.dumps(recs).encode(), None),
        (json.dumps({"records": recs}).encode(), "json"),
        (str(csv_path), None),
        (pq_path, None),
        (arrow_path.read_bytes(), None),
        (frame, None),
    ]:
        got = read_batch(data, fmt)
        assert got.to_dicts() == recs, (type(data), fmt)


def test_mixed_types_in_a_list_of_dicts_fall_back_instead_of_failing():
    recs = [{"id": "a", "v": 1}] * 150 + [{"id": "z", "v": "oops"}]
    frame = read_batch(recs)
    assert frame.height == 151 and frame.schema["v"] == pl.String


def test_received_at_is_the_freshness_reference_so_rechecks_agree():
    recs = [{"id": "a", "ts": "2026-11-21T11:30:00Z"}]
    rules = parse_yaml("src", "rules: [{kind: freshness, field: ts, max_age: 1h}]")
    batch = DataBatch(source="src", records=recs, id="b", received_at=NOW, metadata=META)
    first = check_batch(batch, rules, NOW)
    later = check_batch(batch, rules, NOW + timedelta(days=3))
    assert first.scores == later.scores and first.scores.timeliness == 1.0
