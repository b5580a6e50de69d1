"""Quality rules of a source: their shape, and the parser that refuses bad ones (pure).

Rules come from YAML stored in the database or from Python. Either way they
end up as a `RuleSet` of frozen `Rule`s that the engine compiles to polars
expressions. Parsing validates everything a check would trip on later
(unknown kind, bad regex, min > max, an unknown option), so a bad file is
refused before it can replace the last good rules.

YAML shape::

    id_field: id            # record id used for sample ids (default "id")
    metadata_checks: true   # the seed's batch-metadata checks (default true)
    weights: {completeness: 1, consistency: 1, accuracy: 1, timeliness: 1}
    rules:
      - {kind: required, fields: [id, timestamp], severity: high}
      - {kind: range, field: data.value, min: 1, max: 1000}
      - {kind: freshness, field: timestamp, max_age: 1h}
      - {kind: unique, field: id, window_batches: 10}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pgwarden.quality.errors import RulesInvalid
from pgwarden.quality.model import Severity

KINDS = (
    "required",
    "type",
    "range",
    "allowed",
    "regex",
    "unique",
    "freshness",
    "row_count",
    "schema",
    "custom",
)
TYPES = ("auto", "string", "integer", "number", "boolean", "timestamp", "object", "array")
DIMENSIONS = ("completeness", "consistency", "accuracy", "timeliness")

DEFAULT_SEVERITY = {
    "required": Severity.HIGH,
    "type": Severity.MEDIUM,
    "range": Severity.MEDIUM,
    "allowed": Severity.MEDIUM,
    "regex": Severity.LOW,
    "unique": Severity.HIGH,
    "freshness": Severity.MEDIUM,
    "row_count": Severity.MEDIUM,
    "schema": Severity.MEDIUM,
    "custom": Severity.MEDIUM,
}

# Options each kind accepts besides name, kind, field(s), severity, message.
_OPTIONS: dict[str, frozenset[str]] = {
    "required": frozenset(),
    "type": frozenset({"type"}),
    "range": frozenset({"min", "max"}),
    "allowed": frozenset({"values"}),
    "regex": frozenset({"pattern"}),
    "unique": frozenset({"window_batches", "window_hours"}),
    "freshness": frozenset({"max_age", "max_future"}),
    "row_count": frozenset({"tolerance"}),
    "schema": frozenset(),
    "custom": frozenset({"expr"}),
}
_COMMON = frozenset({"name", "kind", "field", "fields", "severity", "message"})
_NEEDS_FIELD = frozenset({"required", "type", "range", "allowed", "regex", "unique", "freshness"})
_TOP = frozenset({"id_field", "metadata_checks", "weights", "rules", "source", "completeness"})
#: how completeness counts: "record" (seed 004: the share of records that have every
#: required field) or "cell" (missing required values over records x required fields)
COMPLETENESS = ("record", "cell")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
DEFAULT_MAX_FUTURE = 300.0  # seconds a record timestamp may lie ahead of the batch (clock skew)


@dataclass(frozen=True)
class Rule:
    """One rule. Only the options of its kind are set; the rest stay None."""

    kind: str
    field: str | None = None
    name: str = ""
    severity: Severity = Severity.MEDIUM
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] | None = None
    pattern: str | None = None
    type: str | None = None
    max_age: float | None = None  # seconds
    max_future: float | None = None  # seconds
    window_batches: int | None = None
    window_hours: float | None = None
    tolerance: float | None = None  # share of expected_records
    #: custom: a polars SQL expression (text, from YAML) or a polars Expr (Python);
    #: true for a valid record
    expr: Any = None
    message: str = ""

    @property
    def cross_batch(self) -> bool:
        return self.kind == "unique" and (
            self.window_batches is not None or self.window_hours is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (a Python expression is shown as its text)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for key in (
            "field",
            "min",
            "max",
            "values",
            "pattern",
            "type",
            "max_age",
            "max_future",
            "window_batches",
            "window_hours",
            "tolerance",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.expr is not None:
            out["expr"] = self.expr if isinstance(self.expr, str) else str(self.expr)
        out["severity"] = str(self.severity)
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class RuleSet:
    source: str
    rules: tuple[Rule, ...] = ()
    id_field: str = "id"
    metadata_checks: bool = True
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(DIMENSIONS, 1.0))
    version: int | None = None  # stored version, None for Python rules
    completeness: str = "record"  # one of COMPLETENESS
    #: True for the seed's default checks given to a source with no stored rules
    defaults: bool = False

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    @property
    def required_fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.of_kind("required"):
            seen[r.field or ""] = None
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "id_field": self.id_field,
            "metadata_checks": self.metadata_checks,
            "weights": dict(self.weights),
            "completeness": self.completeness,
            "rules": [r.to_dict() for r in self.rules],
        }


#: seed 004's checks, for a source with no stored rules (`quality rules set` replaces them)
DEFAULT_RULES_YAML = """\
# the default rules (seed 004's checks) of a source with no stored rules
rules:
  - {kind: required, fields: [id, timestamp, data]}
  - {kind: unique, field: id}
  - {kind: freshness, field: timestamp, max_age: 1h}
"""
DEFAULT_RULES_TEXT = "required id, timestamp, data; unique id; freshness of timestamp 1 h"


def default_rules(source: str) -> RuleSet:
    """What a source without stored rules gets: seed 004's checks (required id,
    timestamp and data; duplicate ids; freshness of the timestamp within an hour)
    and the metadata checks."""
    return replace(parse_yaml(source, DEFAULT_RULES_YAML), defaults=True)


def default_rules_note(source: str) -> str:
    """What the output says when the default rules were applied."""
    return (
        f"no rules stored for source {source}: the default rules applied ({DEFAULT_RULES_TEXT}); "
        f"`pgwarden quality rules set {source} FILE` replaces them"
    )


def parse_yaml(source: str, text: str) -> RuleSet:
    """Parse and fully validate a YAML rules document; raises RulesInvalid."""
    import yaml  # lazy: keeps `import pgwarden.quality` light

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesInvalid(source, None, None, text[:60], f"not YAML{where}: {problem}") from exc
    return parse_rules(source, doc)


def parse_rules(source: str, doc: Any) -> RuleSet:
    """Validate a rules document (already loaded from YAML or JSON) into a RuleSet."""
    if doc is None:
        doc = {}
    if isinstance(doc, list):
        doc = {"rules": doc}
    if not isinstance(doc, Mapping):
        raise RulesInvalid(source, None, None, doc, "a rules document is a mapping with 'rules'")
    unknown = set(doc) - _TOP
    if unknown:
        name = sorted(map(str, unknown))[0]
        raise RulesInvalid(
            source, None, name, doc[name], f"unknown top-level key; expected {sorted(_TOP)}"
        )
    id_field = doc.get("id_field", "id")
    if not isinstance(id_field, str) or not id_field:
        raise RulesInvalid(source, None, "id_field", id_field, "a non-empty field name")
    metadata_checks = doc.get("metadata_checks", True)
    if not isinstance(metadata_checks, bool):
        raise RulesInvalid(source, None, "metadata_checks", metadata_checks, "true or false")
    weights = _weights(source, doc.get("weights"))
    completeness = doc.get("completeness", "record")
    if completeness not in COMPLETENESS:
        raise RulesInvalid(
            source, None, "completeness", completeness,
            "record (share of records with every required field, the default) or cell "
            "(missing values over records x required fields)",
        )  # fmt: skip
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RulesInvalid(source, None, "rules", raw_rules, "a list of rules")
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rules.extend(_parse_rule(source, i, raw))
    return build(
        source, rules, id_field=id_field, metadata_checks=metadata_checks, weights=weights,
        completeness=completeness,
    )  # fmt: skip


def build(
    source: str,
    rules: Sequence[Rule],
    *,
    id_field: str = "id",
    metadata_checks: bool = True,
    weights: Mapping[str, float] | None = None,
    version: int | None = None,
    completeness: str = "record",
) -> RuleSet:
    """A RuleSet from Rule objects (the Python way in); names defaulted, checked, unique."""
    named: list[Rule] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.kind not in KINDS:
            raise RulesInvalid(source, rule.name or None, "kind", rule.kind, _kinds_text())
        if not rule.name:
            rule = replace(rule, name=f"{rule.kind}:{rule.field}" if rule.field else rule.kind)
        _check(source, rule)
        if rule.name in seen:
            raise RulesInvalid(
                source, rule.name, "name", rule.name, "two rules share this name; name one of them"
            )
        seen.add(rule.name)
        named.append(rule)
    return RuleSet(
        source=source,
        rules=tuple(named),
        id_field=id_field,
        metadata_checks=metadata_checks,
        weights=dict(weights) if weights is not None else dict.fromkeys(DIMENSIONS, 1.0),
        version=version,
        completeness=completeness,
    )


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or a text like '90s', '30m', '1h', '2d'; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    return None


# -- internals ---------------------------------------------------------------


def _kinds_text() -> str:
    return "unknown kind; expected one of " + ", ".join(KINDS)


def _weights(source: str, raw: Any) -> dict[str, float]:
    weights = dict.fromkeys(DIMENSIONS, 1.0)
    if raw is None:
        return weights
    if not isinstance(raw, Mapping):
        raise RulesInvalid(source, None, "weights", raw, "a mapping of dimension to weight")
    for key, value in raw.items():
        if key not in DIMENSIONS:
            raise RulesInvalid(source, None, f"weights.{key}", value, f"expected {DIMENSIONS}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RulesInvalid(source, None, f"weights.{key}", value, "a number >= 0")
        weights[key] = float(value)
    if sum(weights.values()) <= 0:
        raise RulesInvalid(source, None, "weights", raw, "at least one weight must be > 0")
    return weights


def _parse_rule(source: str, index: int, raw: Any) -> list[Rule]:
    label = f"#{index + 1}"
    if not isinstance(raw, Mapping):
        raise RulesInvalid(source, label, None, raw, "a rule is a mapping with 'kind'")
    label = str(raw.get("name") or label)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RulesInvalid(source, label, "kind", kind, _kinds_text())
    unknown = set(raw) - _COMMON - _OPTIONS[kind]
    if unknown:
        key = sorted(map(str, unknown))[0]
        allowed = sorted(_OPTIONS[kind] | _COMMON)
        raise RulesInvalid(
            source, label, key, raw[key], f"not an option of a {kind} rule; expected {allowed}"
        )
    severity = raw.get("severity", DEFAULT_SEVERITY[kind])
    try:
        severity = Severity(str(severity).lower())
    except ValueError:
        raise RulesInvalid(
            source, label, "severity", severity, "expected low, medium, high or critical"
        ) from None
    fields: list[str | None]
    if "fields" in raw:
        if "field" in raw:
            raise RulesInvalid(source, label, "fields", raw["fields"], "give field or fields")
        got = raw["fields"]
        if not isinstance(got, list) or not got or not all(isinstance(f, str) for f in got):
            raise RulesInvalid(source, label, "fields", got, "a non-empty list of field names")
        fields = list(got)
        if raw.get("name") and len(fields) > 1:
            raise RulesInvalid(
                source, label, "name", raw["name"], "a rule over several fields takes no name"
            )
    else:
        fields = [raw.get("field")]
    message = raw.get("message", "")
    if not isinstance(message, str):
        raise RulesInvalid(source, label, "message", message, "a text")
    opts: dict[str, Any] = {}
    for key in _OPTIONS[kind]:
        if key in raw:
            opts[key] = raw[key]
    if "values" in opts:
        values = opts["values"]
        if not isinstance(values, list):
            raise RulesInvalid(source, label, "values", values, "a list of allowed values")
        opts["values"] = tuple(values)
    for key in ("max_age", "max_future"):
        if key in opts:
            seconds = parse_duration(opts[key])
            if seconds is None:
                raise RulesInvalid(
                    source, label, key, opts[key], "a duration like 3600, '90s', '30m', '1h', '2d'"
                )
            opts[key] = seconds
    name = raw.get("name") or ""
    return [
        Rule(kind=kind, field=f, name=name, severity=severity, message=message, **opts)
        for f in fields
    ]


def _number(source: str, rule: Rule, key: str, *, positive: bool = False) -> None:
    value = getattr(rule, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesInvalid(source, rule.name, key, value, "a finite number")
    if positive and value <= 0:
        raise RulesInvalid(source, rule.name, key, value, "a number > 0")


def _check(source: str, rule: Rule) -> None:
    """Everything a rule needs to compile; raises RulesInvalid naming rule and option."""
    name = rule.name
    if rule.kind in _NEEDS_FIELD and (not isinstance(rule.field, str) or not rule.field):
        raise RulesInvalid(source, name, "field", rule.field, f"a {rule.kind} rule needs a field")
    if rule.kind == "range":
        _number(source, rule, "min")
        _number(source, rule, "max")
        if rule.min is None and rule.max is None:
            raise RulesInvalid(source, name, "min", None, "a range rule needs min, max or both")
        if rule.min is not None and rule.max is not None and rule.min > rule.max:
            raise RulesInvalid(
                source, name, "min", rule.min, f"min is greater than max ({rule.max})"
            )
    elif rule.kind == "allowed":
        if not rule.values:
            raise RulesInvalid(source, name, "values", rule.values, "a non-empty list")
        if not all(v is None or isinstance(v, str | int | float | bool) for v in rule.values):
            raise RulesInvalid(source, name, "values", rule.values, "plain values, no mappings")
    elif rule.kind == "regex":
        _check_regex(source, rule)
    elif rule.kind == "type":
        if (rule.type or "auto") not in TYPES:
            raise RulesInvalid(source, name, "type", rule.type, f"expected one of {TYPES}")
    elif rule.kind == "unique":
        if rule.window_batches is not None and (
            isinstance(rule.window_batches, bool)
            or not isinstance(rule.window_batches, int)
            or rule.window_batches < 1
        ):
            raise RulesInvalid(source, name, "window_batches", rule.window_batches, "an int >= 1")
        _number(source, rule, "window_hours", positive=True)
        if rule.window_batches is not None and rule.window_hours is not None:
            raise RulesInvalid(
                source, name, "window_hours", rule.window_hours, "give window_batches or hours"
            )
    elif rule.kind == "freshness":
        if rule.max_age is None:
            raise RulesInvalid(source, name, "max_age", None, "a freshness rule needs max_age")
        _number(source, rule, "max_age", positive=True)
        _number(source, rule, "max_future")
        if rule.max_future is not None and rule.max_future < 0:
            raise RulesInvalid(source, name, "max_future", rule.max_future, "a duration >= 0")
    elif rule.kind == "row_count":
        _number(source, rule, "tolerance")
        if rule.tolerance is not None and not 0 <= rule.tolerance <= 1:
            raise RulesInvalid(source, name, "tolerance", rule.tolerance, "a share in 0..1")
    elif rule.kind == "custom":
        _check_custom(source, rule)


def _check_regex(source: str, rule: Rule) -> None:
    if not isinstance(rule.pattern, str) or not rule.pattern:
        raise RulesInvalid(source, rule.name, "pattern", rule.pattern, "a regular expression")
    import polars as pl

    # The engine runs the pattern in polars (Rust regex), which refuses some
    # Python-only syntax (look-around, back-references): compile it there.
    try:
        pl.select(pl.lit("").str.contains(rule.pattern))
    except Exception as exc:  # polars raises ComputeError with the regex error
        first = str(exc).strip().splitlines()
        reason = first[-1].strip() if first else type(exc).__name__
        raise RulesInvalid(
            source, rule.name, "pattern", rule.pattern, f"bad regular expression: {reason}"
        ) from exc


def _check_custom(source: str, rule: Rule) -> None:
    import polars as pl

    if isinstance(rule.expr, pl.Expr):
        return
    if not isinstance(rule.expr, str) or not rule.expr.strip():
        raise RulesInvalid(
            source, rule.name, "expr", rule.expr, "a polars SQL expression, e.g. 'value > 0'"
        )
    try:
        pl.sql_expr(rule.expr)
    except Exception as exc:
        raise RulesInvalid(
            source, rule.name, "expr", rule.expr, f"not a SQL expression: {exc}"
        ) from exc
