"""The one-pass evaluator: every record-level rule of a source as polars expressions.

The pass itself is `onepass.py`, timestamp fields are read by `timestamps.py`,
and the field helpers (paths, type and value masks, statistics) are
`fields.py`; this module decides which rule becomes which expression and reads
the results back.

All rules compile to aggregate expressions run together in ONE `select`, so
polars reads each column once and runs the expressions in parallel. Each
rule yields a count and at most `sample_size` sample ids
(`id.filter(mask).head(n)`): no failure table the size of the input is ever
built. Three choices keep the checks cheap next to the parse:

- ISO timestamps are compared as text when their shape allows
  (`timestamps.py`).
- Uniqueness hashes ids once: rows whose 64-bit hash repeats are the only
  candidates, and `is_duplicated` on the real values of those few rows makes
  the count exact even under a hash collision.
- Distribution statistics for anomaly detection take quantiles and a
  histogram from a deterministic stride sample of at most 50,000 values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pgwarden.quality.errors import RulesInvalid
from pgwarden.quality.fields import (
    as_text,
    distribution,
    id_expr,
    mismatch,
    observed_fields,
    resolve,
    stat_fields,
    type_detail,
    value_mask,
)
from pgwarden.quality.onepass import OnePass, finite, ids_of
from pgwarden.quality.rules import DEFAULT_SEVERITY, Rule, RuleSet
from pgwarden.quality.timestamps import TimePlan

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class CheckContext:
    """What the database knows that a pure check needs (fetched by the edge)."""

    #: per cross-batch unique rule name: values of this batch already seen in its window
    seen: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    #: the source's learned schema {field: dtype}; None before its first accepted batch
    learned_fields: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Finding:
    rule: Rule
    count: int
    sample_ids: tuple[str, ...]
    detail: str = ""


@dataclass
class Evaluation:
    """Counts of one pass; the input of the scores."""

    records: int
    findings: list[Finding]
    missing_required: int = 0
    required_fields: int = 0
    incomplete_records: int = 0  # records lacking at least one required field
    type_mismatches: int = 0
    typed_values: int = 0
    invalid_records: int = 0  # out of range / not allowed / regex / custom, or duplicated
    out_of_range: int = 0
    duplicates: int = 0
    stale: int = 0
    timed_records: int = 0  # records with a readable timestamp under a freshness rule
    field_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    observed_fields: dict[str, str] = field(default_factory=dict)


def evaluate(
    frame: pl.DataFrame,
    rules: RuleSet,
    reference: datetime,
    context: CheckContext | None = None,
    *,
    sample_size: int = SAMPLE_SIZE,
) -> Evaluation:
    """Evaluate the record-level rules of `rules` on `frame` (pure; no I/O).

    `reference` is the time freshness is measured from (the batch's receipt).
    Batch-level rules (row_count, schema) are evaluated by the caller.
    """
    context = context or CheckContext()
    schema = frame.schema
    n = frame.height
    ev = Evaluation(records=n, findings=[], observed_fields=observed_fields(schema))
    p = OnePass()
    ids = id_expr(schema, rules.id_field)

    def samples(mask: pl.Expr) -> str:
        return p.add(ids.filter(mask).head(sample_size).implode())

    pending: list[tuple[Rule, str, str, str]] = []  # rule, count alias, ids alias, detail
    validity: list[pl.Expr] = []
    field_of: dict[str, tuple[pl.Expr, pl.DataType] | None] = {}

    def get(path: str) -> tuple[pl.Expr, pl.DataType] | None:
        if path not in field_of:
            field_of[path] = resolve(schema, path)
        return field_of[path]

    # -- required ---------------------------------------------------------
    required = rules.of_kind("required")
    ev.required_fields = len({r.field for r in required})
    absent_required = False
    null_masks: list[pl.Expr] = []
    for rule in required:
        got = get(rule.field or "")
        if got is None:
            head = frame.select(ids.head(sample_size)).to_series().to_list()
            ev.findings.append(Finding(rule, n, tuple(map(str, head)), "field absent"))
            ev.missing_required += n
            absent_required = True
            continue
        expr, _ = got
        null_mask = p.col(expr.is_null())
        null_masks.append(null_mask)
        pending.append((rule, p.add(expr.null_count()), samples(null_mask), ""))
    # seed 004's completeness counts records, not cells: a record is incomplete
    # when any required field is missing (every record, if a field is absent)
    p_incomplete = (
        p.add(pl.any_horizontal(null_masks).sum()) if null_masks and not absent_required else None
    )

    # -- types: explicit rules, and the types implied by range / freshness --
    timestamp_fields = {r.field for r in rules.of_kind("freshness")}
    typed: dict[str, tuple[Rule, str]] = {}
    for rule in rules.of_kind("type"):
        typed[rule.field or ""] = (rule, rule.type or "auto")
    for rule in rules.of_kind("range"):
        typed.setdefault(rule.field or "", (_implied(rule, "number"), "number"))
    for rule in rules.of_kind("freshness"):
        typed.setdefault(rule.field or "", (_implied(rule, "timestamp"), "timestamp"))
    time_plans: dict[str, TimePlan] = {}
    for path in timestamp_fields | {f for f, (_, t) in typed.items() if t == "timestamp"}:
        got = get(path or "")
        if got is not None:
            time_plans[path or ""] = TimePlan.make(frame, got, reference)
    # rule, path, then aliases of: mismatch count, non-null count, sample ids
    type_slots: list[tuple[Rule, str, str | None, str | None, str | None]] = []
    for path, (rule, want) in typed.items():
        got = get(path)
        if got is None:
            continue
        expr, dtype = got
        if want == "timestamp" and path in time_plans:
            time_plans[path].register(p, ids, sample_size)
            type_slots.append((rule, path, None, None, None))
            continue
        mask = mismatch(expr, dtype, want)
        p_nonnull = p.add(expr.is_not_null().sum())
        if mask is None:
            type_slots.append((rule, path, None, p_nonnull, None))
            continue
        mask = p.col(mask)
        type_slots.append((rule, path, p.add(mask.sum()), p_nonnull, samples(mask)))

    # -- value rules (accuracy) ---------------------------------------------
    for rule in rules.rules:
        if rule.kind not in ("range", "allowed", "regex", "custom"):
            continue
        if rule.kind == "custom":
            expr = rule.expr if isinstance(rule.expr, pl.Expr) else pl.sql_expr(rule.expr)
            absent = [c for c in expr.meta.root_names() if c not in schema]
            if absent:
                detail = "skipped: no column " + ", ".join(absent)
                ev.findings.append(Finding(rule, 0, (), detail))
                continue
            mask = ~expr.fill_null(True)
        else:
            got = get(rule.field or "")
            if got is None:
                continue  # absence is the required rule's business
            mask = value_mask(rule, *got)
        mask = p.col(mask)
        validity.append(mask)
        pending.append((rule, p.add(mask.sum()), samples(mask), ""))

    # -- uniqueness: hash once, exact on the candidates ---------------------
    unique_rules = [r for r in rules.of_kind("unique") if get(r.field or "") is not None]
    cand_parts: list[pl.Expr] = []
    for rule in unique_rules:
        expr, _ = get(rule.field or "")  # type: ignore[misc]
        cand_parts.append(expr.is_not_null() & expr.hash().is_duplicated())
        seen = context.seen.get(rule.name)
        if seen:
            seen_values = pl.Series(list(seen), dtype=pl.String).implode()
            cand_parts.append(as_text(expr).is_in(seen_values))
    cand = p.col(pl.any_horizontal(cand_parts)) if unique_rules else None
    valid_any = p.col(pl.any_horizontal(validity), level=1) if validity else None
    p_invalid = p.add(valid_any.sum()) if valid_any is not None else None

    # -- freshness ----------------------------------------------------------
    fresh_slots: list[tuple[Rule, TimePlan | None]] = []
    for rule in rules.of_kind("freshness"):
        plan = time_plans.get(rule.field or "")
        if plan is not None:
            plan.add_window(rule, reference, p, ids, sample_size)
        fresh_slots.append((rule, plan))

    # -- per-field statistics -----------------------------------------------
    stat_exprs = stat_fields(rules, schema, get)
    stat_slots: dict[str, dict[str, str]] = {}
    for path, (expr, _dtype, numeric) in stat_exprs.items():
        slot = {"nulls": p.add(expr.null_count())}
        if numeric is not None:
            slot["count"] = p.add(numeric.count())
            slot["mean"] = p.add(numeric.mean())
            slot["std"] = p.add(numeric.std())
            slot["min"] = p.add(numeric.min())
            slot["max"] = p.add(numeric.max())
        stat_slots[path] = slot

    row = p.run(frame)
    overlap = 0
    if cand is not None and p.staged is not None:
        overlap = _uniqueness(
            p.staged, cand, valid_any, unique_rules, get, ids, context, sample_size, ev
        )

    # Timestamp fields whose values do not all share one shape are parsed.
    for plan in time_plans.values():
        plan.settle(frame, row, ids, sample_size)

    if absent_required:
        ev.incomplete_records = n
    elif p_incomplete is not None:
        ev.incomplete_records = int(row[p_incomplete] or 0)

    for rule, count_alias, ids_alias, detail in pending:
        count = int(row[count_alias] or 0)
        if rule.kind == "required":
            ev.missing_required += count
        if rule.kind == "range":
            ev.out_of_range += count
        ev.findings.append(Finding(rule, count, ids_of(row.get(ids_alias)), detail))

    for rule, path, mismatch_alias, nonnull_alias, sample_alias in type_slots:
        if nonnull_alias is None:
            plan = time_plans[path]
            count, sample, nonnull = plan.bad_count, plan.bad_ids, plan.nonnull
        else:
            nonnull = int(row[nonnull_alias] or 0)
            count = int(row[mismatch_alias] or 0) if mismatch_alias else 0
            sample = ids_of(row.get(sample_alias)) if sample_alias else ()
        ev.typed_values += nonnull
        ev.type_mismatches += count
        detail = ""
        if count:
            detail = type_detail(frame, get(path), rules_type(typed, path), time_plans.get(path))
        ev.findings.append(Finding(rule, count, sample, detail))
        ev.field_stats.setdefault(path, {})["type_mismatch"] = count

    invalid = int(row[p_invalid] or 0) if p_invalid else 0
    ev.invalid_records = invalid + ev.duplicates - overlap

    for rule, plan in fresh_slots:
        if plan is None:
            continue
        count, sample = plan.window_result(rule)
        ev.stale += count
        ev.timed_records = max(ev.timed_records, plan.nonnull - plan.bad_count)
        ev.findings.append(Finding(rule, count, sample, plan.window_detail(rule)))

    for path, slot in stat_slots.items():
        stats = ev.field_stats.setdefault(path, {})
        stats["nulls"] = int(row[slot["nulls"]] or 0)
        stats.setdefault("type_mismatch", 0)
        if "count" in slot:
            stats["numeric"] = {
                k: finite(row[slot[k]]) for k in ("count", "mean", "std", "min", "max")
            }
            numeric = stat_exprs[path][2]
            assert numeric is not None
            stats["numeric"].update(distribution(frame, numeric, n))
    for path in {r.field for r in required if get(r.field or "") is None}:
        ev.field_stats.setdefault(path or "", {"nulls": n, "type_mismatch": 0})
    return ev


def _uniqueness(
    staged: pl.DataFrame,
    cand: pl.Expr,
    valid_any: pl.Expr | None,
    unique_rules: list[Rule],
    get: Any,
    ids: pl.Expr,
    context: CheckContext,
    sample_size: int,
    ev: Evaluation,
) -> int:
    """Exact duplicate counts on the hash candidates only; returns how many duplicated
    records also broke a value rule (so accuracy counts each record once)."""
    cols = [ids.alias("__id"), (valid_any if valid_any is not None else pl.lit(False)).alias("__v")]
    for i, rule in enumerate(unique_rules):
        expr, _ = get(rule.field or "")
        cols.append(expr.alias(f"__u{i}"))
    small = staged.filter(cand).select(cols)
    masks = []
    for i, rule in enumerate(unique_rules):
        value = pl.col(f"__u{i}")
        mask = value.is_not_null() & value.is_duplicated()
        seen = context.seen.get(rule.name)
        if seen:
            mask = mask | as_text(value).is_in(pl.Series(list(seen), dtype=pl.String).implode())
        masks.append(mask.alias(f"__d{i}"))
    small = small.with_columns(masks)
    dup_any = pl.any_horizontal([pl.col(f"__d{i}") for i in range(len(unique_rules))])
    aggs = [pl.col(f"__d{i}").sum().alias(f"c{i}") for i in range(len(unique_rules))] + [
        pl.col("__id").filter(pl.col(f"__d{i}")).head(sample_size).implode().alias(f"s{i}")
        for i in range(len(unique_rules))
    ]
    aggs += [dup_any.sum().alias("dup"), (dup_any & pl.col("__v")).sum().alias("both")]
    row = small.select(aggs).row(0, named=True)
    for i, rule in enumerate(unique_rules):
        ev.findings.append(Finding(rule, int(row[f"c{i}"] or 0), ids_of(row[f"s{i}"])))
    ev.duplicates = int(row["dup"] or 0)
    return int(row["both"] or 0)


def _implied(rule: Rule, want: str) -> Rule:
    return Rule(
        kind="type",
        field=rule.field,
        name=f"type:{rule.field}",
        severity=DEFAULT_SEVERITY["type"],
        type=want,
        message=f"implied by rule {rule.name!r}",
    )


def compile_check(rules: RuleSet) -> None:
    """Run the rules once on a one-record frame: a rule that cannot compile fails here,
    at `rules set` time, rather than on the first batch. Raises RulesInvalid."""
    fields = {rules.id_field, *(r.field for r in rules.rules if r.field)}
    frame = pl.DataFrame({f: ["1"] for f in fields if f})
    for rule in rules.rules:
        if rule.kind == "custom":
            continue  # its columns are only known with data; parsed by the rules parser
        one = RuleSet(source=rules.source, rules=(rule,), id_field=rules.id_field)
        try:
            evaluate(frame, one, datetime.now(UTC))
        except Exception as exc:
            raise RulesInvalid(
                rules.source,
                rule.name,
                rule.field,
                rule.expr or rule.pattern,
                f"does not compile: {exc}",
            ) from exc


def rules_type(typed: Mapping[str, tuple[Rule, str]], path: str) -> str:
    return typed[path][1] if path in typed else "auto"
