"""Rules parsing and validation (pure): every refusal names source, rule, field and value."""

from __future__ import annotations

import polars as pl
import pytest

from pgwarden.quality.errors import RulesInvalid
from pgwarden.quality.model import Severity
from pgwarden.quality.rules import Rule, build, parse_duration, parse_yaml

GOOD = """
id_field: id
weights: {accuracy: 2}
rules:
  - {kind: required, fields: [id, timestamp], severity: critical}
  - {kind: range, field: data.value, min: 1, max: 1000}
  - {kind: allowed, field: category, values: [A, B]}
  - {kind: regex, field: user_id, pattern: '^u\\d+$'}
  - {kind: unique, field: id, window_hours: 24}
  - {kind: freshness, field: timestamp, max_age: 1h, max_future: 30s}
  - {kind: type, field: value, type: number}
  - {kind: row_count, tolerance: 0.1}
  - {kind: schema}
  - {name: positive, kind: custom, expr: "value > 0"}
"""


def test_a_good_file_parses_with_defaults_filled_in():
    rules = parse_yaml("src", GOOD)
    names = [r.name for r in rules.rules]
    assert names[:3] == ["required:id", "required:timestamp", "range:data.value"]
    assert "positive" in names and "schema" in names and "row_count" in names
    assert rules.required_fields == ["id", "timestamp"]
    assert rules.rules[0].severity == Severity.CRITICAL
    assert rules.of_kind("regex")[0].severity == Severity.LOW  # the kind's default
    fresh = rules.of_kind("freshness")[0]
    assert (fresh.max_age, fresh.max_future) == (3600.0, 30.0)
    assert rules.of_kind("unique")[0].cross_batch
    assert rules.weights == {
        "completeness": 1.0,
        "consistency": 1.0,
        "accuracy": 2.0,
        "timeliness": 1.0,
    }


@pytest.mark.parametrize(
    ("text", "rule", "field", "needle"),
    [
        ("rules: [{kind: sparkle, field: x}]", "#1", "kind", "unknown kind"),
        ("rules: [{name: r, kind: regex, field: x, pattern: '(ab'}]", "r", "pattern", "regular"),
        ("rules: [{kind: regex, field: x, pattern: '(?<=a)b'}]", "regex:x", "pattern", "regular"),
        ("rules: [{kind: range, field: v, min: 5, max: 1}]", "range:v", "min", "greater than max"),
        ("rules: [{kind: range, field: v}]", "range:v", "min", "needs min, max"),
        ("rules: [{kind: range, field: v, min: abc}]", "range:v", "min", "finite number"),
        ("rules: [{kind: required}]", "required", "field", "needs a field"),
        ("rules: [{kind: required, field: x, colour: red}]", "#1", "colour", "not an option"),
        ("rules: [{kind: required, field: x, severity: huge}]", "#1", "severity", "low, medium"),
        ("rules: [{kind: freshness, field: t, max_age: soon}]", "#1", "max_age", "duration"),
        ("rules: [{kind: freshness, field: t}]", "freshness:t", "max_age", "needs max_age"),
        ("rules: [{kind: type, field: t, type: blob}]", "type:t", "type", "one of"),
        (
            "rules: [{kind: unique, field: i, window_batches: 0}]",
            "unique:i",
            "window_batches",
            ">= 1",
        ),
        ("rules: [{kind: allowed, field: c, values: []}]", "allowed:c", "values", "non-empty"),
        ("rules: [{kind: custom, expr: 'value >'}]", "custom", "expr", "SQL"),
        ("rules: [{kind: row_count, tolerance: 2}]", "row_count", "tolerance", "0..1"),
        (
            "rules: [{kind: required, field: a}, {kind: required, field: a}]",
            "required:a",
            "name",
            "share this name",
        ),
    ],
)
def test_bad_rules_name_the_source_rule_field_and_value(text, rule, field, needle):
    with pytest.raises(RulesInvalid) as info:
        parse_yaml("orders", text)
    err = info.value
    assert (err.source, err.rule, err.field) == ("orders", rule, field)
    assert needle in str(err)
    assert "'orders'" in str(err)


def test_not_yaml_and_wrong_shapes():
    with pytest.raises(RulesInvalid, match="not YAML at line"):
        parse_yaml("s", "rules: [\n  - {kind: required")
    with pytest.raises(RulesInvalid, match="a rules document is a mapping"):
        parse_yaml("s", "just text")
    with pytest.raises(RulesInvalid, match="unknown top-level key"):
        parse_yaml("s", "rulez: []")
    with pytest.raises(RulesInvalid, match="a number >= 0"):
        parse_yaml("s", "weights: {accuracy: -1}")


def test_python_rules_with_a_polars_expression():
    rules = build(
        "py",
        [
            Rule(kind="required", field="id"),
            Rule(kind="custom", name="even", expr=pl.col("n") % 2 == 0),
        ],
    )
    assert [r.name for r in rules.rules] == ["required:id", "even"]
    with pytest.raises(RulesInvalid, match="unknown kind"):
        build("py", [Rule(kind="nope", field="x")])


def test_durations():
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2d") == 172800
    assert parse_duration(15) == 15
    assert parse_duration("later") is None
    assert parse_duration(True) is None
