"""Field helpers of the evaluator: paths into a frame, type masks, value masks, statistics.

Each takes polars expressions and dtypes and returns expressions or plain
values; nothing here runs a pass of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from pgwarden.quality.onepass import finite
from pgwarden.quality.rules import Rule, RuleSet

STATS_SAMPLE = 50_000  # values used for quantiles and histograms
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 10
_NUMERIC_TYPES = ("number", "integer")


def observed_fields(schema: Mapping[str, pl.DataType]) -> dict[str, str]:
    """Field paths of a frame (struct fields one level down) and their dtypes, for drift."""
    out: dict[str, str] = {}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Struct):
            for fld in dtype.fields:
                out[f"{name}.{fld.name}"] = str(fld.dtype)
        else:
            out[name] = str(dtype)
    return out


def resolve(schema: Mapping[str, pl.DataType], path: str) -> tuple[pl.Expr, pl.DataType] | None:
    """The expression of a field path: a column, or `a.b` as field b of struct column a."""
    if path in schema:
        return pl.col(path), schema[path]
    parts = path.split(".")
    if parts[0] not in schema:
        return None
    expr, dtype = pl.col(parts[0]), schema[parts[0]]
    for part in parts[1:]:
        if not isinstance(dtype, pl.Struct):
            return None
        fields = {f.name: f.dtype for f in dtype.fields}
        if part not in fields:
            return None
        expr, dtype = expr.struct.field(part), fields[part]  # type: ignore[assignment]
    return expr, dtype


def as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String, strict=False)


def id_expr(
    schema: Mapping[str, pl.DataType], id_field: str, row: Callable[[], pl.Expr]
) -> pl.Expr:
    """The record id as text; `row {n}` (the record index, from `row()`) without an id field."""
    got = resolve(schema, id_field)
    if got is None:
        return pl.format("row {}", row())
    expr, dtype = got
    if dtype == pl.String:
        return expr
    if isinstance(dtype, pl.Struct | pl.List):
        return expr.cast(pl.String, strict=False).fill_null("?")
    return expr.cast(pl.String)


#: what a text value looks like, for `type: auto` (the field's dominant kind wins)
KINDS = ("number", "json", "boolean", "text")


def value_kind(expr: pl.Expr) -> pl.Expr:
    """The index in KINDS of each text value's kind."""
    return (
        pl.when(expr.cast(pl.Float64, strict=False).is_not_null())
        .then(pl.lit(0))
        .when(expr.str.starts_with("{") | expr.str.starts_with("["))
        .then(pl.lit(1))
        .when(expr.is_in(["true", "false"]))
        .then(pl.lit(2))
        .otherwise(pl.lit(3))
    )


def mismatch(expr: pl.Expr, dtype: pl.DataType, want: str) -> pl.Expr | None:
    """Mask of non-null values not of type `want`; None when the dtype guarantees it."""
    present = expr.is_not_null()
    if dtype == pl.Null:
        return None
    if want == "auto":
        # text fields are judged by their dominant kind across the batch, which the
        # evaluator counts per kind (`value_kind`); other dtypes are one kind
        return None
    if want in _NUMERIC_TYPES:
        if dtype.is_integer():
            return None
        if dtype.is_float():
            return (present & (expr != expr.round(0))) if want == "integer" else None
        if dtype == pl.String:
            target = pl.Int64 if want == "integer" else pl.Float64
            return present & expr.cast(target, strict=False).is_null()
        return present
    if want == "string":
        return None if dtype == pl.String else present
    if want == "boolean":
        if dtype == pl.Boolean:
            return None
        if dtype == pl.String:
            return present & ~expr.is_in(["true", "false"])
        return present
    if want == "object":
        if isinstance(dtype, pl.Struct):
            return None
        return (present & ~expr.str.starts_with("{")) if dtype == pl.String else present
    if want == "array":
        if isinstance(dtype, pl.List | pl.Array):
            return None
        return (present & ~expr.str.starts_with("[")) if dtype == pl.String else present
    return None


def numeric_view(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    if dtype.is_numeric():
        return expr
    if dtype == pl.String:
        return expr.cast(pl.Float64, strict=False)
    return None


def value_mask(rule: Rule, expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Rows breaking a range / allowed / regex rule (nulls and wrong types excluded)."""
    if rule.kind == "range":
        num = numeric_view(expr, dtype)
        if num is None:
            return pl.repeat(False, pl.len())
        parts = []
        if rule.min is not None:
            parts.append(num < rule.min)
        if rule.max is not None:
            parts.append(num > rule.max)
        mask = parts[0] if len(parts) == 1 else parts[0] | parts[1]
        return mask.fill_null(False)
    if rule.kind == "allowed":
        values = list(rule.values or ())
        if dtype.is_numeric() and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            allowed = pl.Series(values).cast(dtype, strict=False).implode()
            return (expr.is_not_null() & ~expr.is_in(allowed)).fill_null(False)
        text = [str(v).lower() if isinstance(v, bool) else str(v) for v in values if v is not None]
        as_text = expr if dtype == pl.String else expr.cast(pl.String, strict=False)
        allowed = pl.Series(text, dtype=pl.String).implode()
        return (expr.is_not_null() & ~as_text.is_in(allowed)).fill_null(False)
    # regex
    if isinstance(dtype, pl.Struct | pl.List):
        return expr.is_not_null()
    as_text = expr if dtype == pl.String else expr.cast(pl.String, strict=False)
    return (expr.is_not_null() & ~as_text.str.contains(str(rule.pattern))).fill_null(False)


def stat_fields(
    rules: RuleSet, schema: Mapping[str, pl.DataType], get: Any
) -> dict[str, tuple[pl.Expr, pl.DataType, pl.Expr | None]]:
    """Fields named by rules, plus numeric columns: what the anomaly side watches."""
    paths: dict[str, None] = {}
    for rule in rules.rules:
        if rule.field:
            paths[rule.field] = None
    for name, dtype in schema.items():
        if dtype.is_numeric():
            paths[name] = None
        elif isinstance(dtype, pl.Struct):
            for fld in dtype.fields:
                if fld.dtype.is_numeric():
                    paths[f"{name}.{fld.name}"] = None
    out: dict[str, tuple[pl.Expr, pl.DataType, pl.Expr | None]] = {}
    ranged = {r.field for r in rules.of_kind("range")}
    for path in paths:
        got = get(path)
        if got is None:
            continue
        expr, dtype = got
        numeric = None
        if dtype.is_numeric() or (path in ranged and dtype == pl.String):
            numeric = numeric_view(expr, dtype)
            if numeric is not None and dtype != pl.Float64:
                numeric = numeric.cast(pl.Float64)
        out[path] = (expr, dtype, numeric)
    return out


def distribution_aggs(values: pl.Expr) -> list[tuple[str, pl.Expr]]:
    """Aggregates of a (sampled) float column, nulls ignored: quantiles, bounds, histogram."""
    lo, hi = values.min(), values.max()
    width = (hi - lo) / HISTOGRAM_BINS
    width = pl.when(width == 0).then(pl.lit(1.0)).otherwise(width)
    bins = ((values - lo) / width).floor().clip(0, HISTOGRAM_BINS - 1).cast(pl.Int32)
    out = [("q", values.quantile(list(QUANTILES), interpolation="linear"))]  # one sort
    out += [("lo", lo), ("hi", hi), ("len", values.count())]
    out.append(("bins", bins.drop_nulls().alias("v").value_counts(name="n").implode()))
    return out


def distribution_result(got: Mapping[str, Any]) -> dict[str, Any]:
    """Quantiles and a 10-bin histogram from the values of `distribution_aggs`."""
    if not got.get("len"):
        return {"quantiles": [], "histogram": {"edges": [], "counts": []}, "sampled": 0}
    lo, hi = float(got["lo"]), float(got["hi"])
    width = (hi - lo) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for pair in got["bins"] or ():
        counts[pair["v"]] = int(pair["n"])
    return {
        "quantile_levels": list(QUANTILES),
        "quantiles": [finite(q) for q in got["q"] or [None] * len(QUANTILES)],
        "histogram": {
            "edges": [lo + i * width for i in range(HISTOGRAM_BINS + 1)],
            "counts": counts,
        },
        "sampled": int(got["len"]),
    }


def type_detail(value: Any, want: str) -> str:
    """One offending value, shown in the violation message."""
    if value is None:
        return ""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:50] + f"... ({len(shown)} chars)"
    return f"expected {want}, e.g. {shown}"
