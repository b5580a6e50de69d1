"""The one-pass evaluator: every record-level rule of a source as polars expressions.

The pass itself is `onepass.py`, timestamp fields are read by `timestamps.py`,
and the field helpers (paths, type and value masks, statistics) are
`fields.py`; this module decides which rule becomes which expression and reads
the results back. A batch over the memory ceiling runs the same pass chunk by
chunk (`chunked.py`).

All rules compile to aggregate expressions run together in ONE `select` of
one lazy query, collected once per batch, so polars reads each column once
and runs the expressions in parallel. Each
rule yields a count and at most `sample_size` sample ids
(`id.filter(mask).head(n)`): no failure table the size of the input is ever
built. Three choices keep the checks cheap next to the parse:

- ISO timestamps are compared as text when their shape allows
  (`timestamps.py`).
- Uniqueness hashes ids once: rows whose 64-bit hash repeats (found by sorting
  the hashes) are the only candidates, and `is_duplicated` on the real values
  of those few rows makes the count exact even under a hash collision.
- Distribution statistics for anomaly detection take quantiles and a
  histogram from a deterministic stride sample of at most 50,000 values.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pgwarden.quality.batch import refuse_long_value, string_fields
from pgwarden.quality.errors import RulesInvalid
from pgwarden.quality.fields import (
    KINDS,
    STATS_SAMPLE,
    as_text,
    distribution_aggs,
    distribution_result,
    id_expr,
    mismatch,
    observed_fields,
    resolve,
    stat_fields,
    type_detail,
    value_kind,
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
    max_value_bytes: int | None = None,
    source: str = "?",
) -> Evaluation:
    """Evaluate the record-level rules of `rules` on `frame` (pure; no I/O).

    `reference` is the time freshness is measured from (the batch's receipt).
    Batch-level rules (row_count, schema) are evaluated by the caller. One
    collect, plus one per timestamp field whose values do not share a shape.
    `max_value_bytes`: the value-size check of `read_batch` rides in the same
    pass (raises BatchInvalid).
    """
    plan = _plan_of(
        frame,
        rules,
        context or CheckContext(),
        sample_size,
        stats_step=max(1, frame.height // STATS_SAMPLE),
        max_value_bytes=max_value_bytes,
    ).for_batch(reference)
    row = plan.p.run(frame)
    plan.check_sizes(row, frame, source)
    for time_plan in plan.time_plans.values():
        if time_plan.shape_failed(row):
            again = time_plan.reparse(plan.ids, sample_size)
            again.uses_row = plan.p.uses_row
            row = {**row, **again.run(frame)}
    return plan.finish(row, frame.height)


#: from this many records, repeated hashes are found by sorting (`repeats`)
SORT_HASHES = 100_000


def repeats(hashed: pl.Expr, p: OnePass) -> pl.Expr:
    """Rows whose hash occurs more than once: the hashes are sorted (a radix sort of
    integers, about twice as fast as `is_duplicated`'s hash table at 1 M rows, a
    little slower on small batches) and the values equal to their neighbour are the
    repeated ones. The sorted hashes are a column of the pass's first stage, so the
    mask (read in the second) sorts once: written as one expression, polars took
    about twice as long at 1 M rows."""
    ordered = p.col(hashed.sort())
    return hashed.is_in(ordered.filter(ordered == ordered.shift(1)).implode())


def make_time_plans(
    frame: pl.DataFrame, rules: RuleSet, parse: set[str] | frozenset[str] = frozenset()
) -> dict[str, TimePlan]:
    """How each timestamp field of the rules is read, from its first value in `frame`."""
    paths = {r.field or "" for r in rules.of_kind("freshness")}
    paths |= {r.field or "" for r in rules.of_kind("type") if r.type == "timestamp"}
    out: dict[str, TimePlan] = {}
    for path in sorted(paths):
        got = resolve(frame.schema, path)
        if got is not None:
            out[path] = TimePlan.make(frame, got, path=path, parse=path in parse)
    return out


#: built plans per thread, by rules object, schema, options and timestamp shapes:
#: building one costs about as much as a 500-record batch's pass (polars
#: expressions are built in Python), and a source's batches share them
_plans = threading.local()
PLAN_CACHE_SIZE = 64


def _plan_of(
    frame: pl.DataFrame,
    rules: RuleSet,
    context: CheckContext,
    sample_size: int,
    *,
    stats_step: int,
    max_value_bytes: int | None,
) -> Plan:
    """A plan for a whole frame, from the cache when one was built for the same inputs.

    Not cached: plans under ids seen in earlier batches (they hold those ids).
    """
    time_plans = make_time_plans(frame, rules)

    def build() -> Plan:
        return Plan(
            frame,
            rules,
            context,
            sample_size,
            stats_step=stats_step,
            max_value_bytes=max_value_bytes,
            time_plans=time_plans,
        )

    if any(context.seen.values()):
        return build()
    key = (
        id(rules),
        frame.height >= SORT_HASHES,
        tuple(frame.schema.items()),
        sample_size,
        stats_step,
        max_value_bytes,
        tuple((path, tp.shape()) for path, tp in time_plans.items()),
    )
    cache: dict[Any, tuple[RuleSet, Plan]] = getattr(_plans, "cache", None) or {}
    _plans.cache = cache
    hit = cache.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    plan = build()
    if len(cache) >= PLAN_CACHE_SIZE:
        cache.clear()
    cache[key] = (rules, plan)
    return plan


class Plan:
    """The expressions of one evaluation over a schema, and how their results are read."""

    def __init__(
        self,
        frame: pl.DataFrame,
        rules: RuleSet,
        context: CheckContext,
        sample_size: int,
        *,
        stats_step: int,
        max_value_bytes: int | None,
        chunked: bool = False,
        parse: set[str] | frozenset[str] = frozenset(),
        time_plans: dict[str, TimePlan] | None = None,
    ) -> None:
        schema = frame.schema
        self.schema = schema
        self.height = frame.height  # of the frame the plan was built on (see _plan_of)
        self.rules = rules
        self.context = context
        self.k = sample_size
        self.chunked = chunked
        p = self.p = OnePass()
        ids = self.ids = id_expr(schema, rules.id_field, p.row)
        k = sample_size
        self.field_of: dict[str, tuple[pl.Expr, pl.DataType] | None] = {}
        self.null_aliases: dict[str, str] = {}
        get = self.get

        # -- value sizes (read_batch's check, in the same pass) -----------------
        self.size_slots: list[tuple[str, pl.Expr, str]] = []
        self.max_value_bytes = max_value_bytes
        if max_value_bytes is not None:
            for name, expr in string_fields(schema):
                self.size_slots.append((name, expr, p.add(expr.str.len_bytes().max(), "max")))

        # -- required ---------------------------------------------------------
        # findings are listed in this order: absent required fields, skipped
        # custom rules, uniqueness, then required and value rules, types, freshness
        self.early: list[tuple[Rule, str | None, str]] = []  # rule, sample alias, detail
        required = rules.of_kind("required")
        self.required = required
        self.required_fields = len({r.field for r in required})
        self.absent_required = False
        self.pending: list[tuple[Rule, str, str, str]] = []  # rule, count, ids, detail
        null_masks: list[pl.Expr] = []
        for rule in required:
            got = get(rule.field or "")
            if got is None:
                self.early.append((rule, p.samples(ids, k), "field absent"))
                self.absent_required = True
                continue
            expr, _ = got
            null_mask = p.col(expr.is_null())
            null_masks.append(null_mask)
            self.pending.append(
                (rule, self.nulls(rule.field or "", expr), p.samples(ids.filter(null_mask), k), "")
            )
        # seed 004's completeness counts records, not cells: a record is incomplete
        # when any required field is missing (every record, if a field is absent)
        self.p_incomplete = (
            p.add(pl.any_horizontal(null_masks).sum())
            if null_masks and not self.absent_required
            else None
        )

        # -- types: explicit rules, and the types implied by range / freshness --
        typed: dict[str, tuple[Rule, str]] = {}
        for rule in rules.of_kind("type"):
            typed[rule.field or ""] = (rule, rule.type or "auto")
        for rule in rules.of_kind("range"):
            typed.setdefault(rule.field or "", (_implied(rule, "number"), "number"))
        for rule in rules.of_kind("freshness"):
            typed.setdefault(rule.field or "", (_implied(rule, "timestamp"), "timestamp"))
        self.typed = typed
        if time_plans is None:
            time_plans = make_time_plans(frame, rules, parse)
        self.time_plans = time_plans
        self.fresh_slots: list[tuple[Rule, TimePlan | None]] = []  # per batch: for_batch
        self.type_slots: list[tuple[Rule, str, _TypeSlot]] = []
        for path, (rule, want) in typed.items():
            got = get(path)
            if got is None:
                continue
            expr, dtype = got
            if want == "timestamp" and path in self.time_plans:
                self.time_plans[path].register(p, ids, k)
                self.type_slots.append((rule, path, _TypeSlot(timestamp=True)))
                continue
            slot = _TypeSlot(nulls=self.nulls(path, expr))
            if want == "auto" and dtype == pl.String:
                kind = p.col(value_kind(expr))
                present = expr.is_not_null()
                for j in range(len(KINDS)):
                    of_kind = present & (kind == j)
                    slot.kinds.append(
                        (
                            p.add(of_kind.sum()),
                            p.samples(
                                pl.struct(p.row().alias("r"), ids.alias("i")).filter(of_kind),
                                max(k, 1),
                            ),
                            p.add(expr.filter(of_kind).first(), "first"),
                        )
                    )
            else:
                mask = mismatch(expr, dtype, want)
                if mask is not None:
                    mask = p.col(mask)
                    slot.count = p.add(mask.sum())
                    slot.sample = p.samples(ids.filter(mask), k)
                    slot.value = p.add(expr.filter(mask).first(), "first")
            self.type_slots.append((rule, path, slot))

        # -- value rules (accuracy) ---------------------------------------------
        validity: list[pl.Expr] = []
        single_count = ""  # the count alias of the last value rule
        for rule in rules.rules:
            if rule.kind not in ("range", "allowed", "regex", "custom"):
                continue
            if rule.kind == "custom":
                expr = rule.expr if isinstance(rule.expr, pl.Expr) else pl.sql_expr(rule.expr)
                absent = [c for c in expr.meta.root_names() if c not in schema]
                if absent:
                    self.early.append((rule, None, "skipped: no column " + ", ".join(absent)))
                    continue
                mask = ~expr.fill_null(True)
            else:
                got = get(rule.field or "")
                if got is None:
                    continue  # absence is the required rule's business
                mask = value_mask(rule, *got)
            mask = p.col(mask)
            validity.append(mask)
            self.pending.append((rule, p.add(mask.sum()), p.samples(ids.filter(mask), k), ""))
            single_count = self.pending[-1][1]

        # -- uniqueness: hash once, exact on the candidates ---------------------
        self.unique_rules = [r for r in rules.of_kind("unique") if get(r.field or "") is not None]
        # one value rule: its mask is the records' (no second staging step)
        valid_any = (
            None
            if not validity
            else validity[0]
            if len(validity) == 1
            else p.col(pl.any_horizontal(validity), level=1)
        )
        self.p_invalid = (
            None
            if valid_any is None
            else single_count
            if len(validity) == 1
            else p.add(valid_any.sum())
        )
        self.unique_slots: list[tuple[str, str]] = []  # count, samples per rule
        self.p_dup: str | None = None
        self.p_both: str | None = None
        self.spill_exprs: list[pl.Expr] = []
        self.unique_result: tuple[list[int], list[tuple[str, ...]], int, int] | None = None
        if self.unique_rules and not chunked:
            cand_parts: list[pl.Expr] = []
            by_sort = self.height >= SORT_HASHES
            for rule in self.unique_rules:
                expr, _ = get(rule.field or "")  # type: ignore[misc]
                hashed = expr.hash()
                cand_parts.append(
                    expr.is_not_null() & (repeats(hashed, p) if by_sort else hashed.is_duplicated())
                )
                seen = self.seen_values(rule)
                if seen is not None:
                    cand_parts.append(as_text(expr).is_in(seen))
            cand = p.col(pl.any_horizontal(cand_parts), level=1 if by_sort else 0)
            values = [get(r.field or "")[0].filter(cand) for r in self.unique_rules]  # type: ignore[index]
            valid = valid_any.filter(cand) if valid_any is not None else None
            counts, samples, dup, both = self.dup_aggs(values, ids.filter(cand), valid)
            self.unique_slots = [
                (p.add(c), p.samples(s, k)) for c, s in zip(counts, samples, strict=True)
            ]
            # one unique rule: the records duplicated under any rule are its own
            self.p_dup = p.add(dup) if len(counts) > 1 else self.unique_slots[0][0]
            self.p_both = p.add(both) if both is not None else None
        elif self.unique_rules:
            self.spill_exprs = [
                p.row(),
                ids.alias("__id"),
                (valid_any if valid_any is not None else pl.lit(False)).alias("__v"),
            ]
            for i, rule in enumerate(self.unique_rules):
                expr, _ = get(rule.field or "")  # type: ignore[misc]
                hashed = pl.when(expr.is_not_null()).then(expr.hash())
                self.spill_exprs += [expr.alias(f"__u{i}"), hashed.alias(f"__h{i}")]

        # -- per-field statistics -----------------------------------------------
        self.stat_slots: dict[str, dict[str, str]] = {}
        self.dist_slots: dict[str, dict[str, Any]] = {}
        self.moments: list[tuple[str, str, str]] = []
        for path, (expr, _dtype, numeric) in stat_fields(rules, schema, get).items():
            stat = {"nulls": self.nulls(path, expr)}
            if numeric is not None:
                stat["count"] = p.add(numeric.count())
                stat["mean"] = p.add(numeric.mean(), "first")
                stat["std"] = p.add(numeric.std(), "first")
                stat["min"] = p.add(numeric.min(), "min")
                stat["max"] = p.add(numeric.max(), "max")
                self.moments.append((stat["count"], stat["mean"], stat["std"]))
                if chunked:
                    sampled = numeric.filter(p.row() % stats_step == 0).drop_nulls()
                    self.dist_slots[path] = {"values": p.add(sampled.implode(), "concat")}
                    self.stat_slots[path] = stat
                    continue
                # every value is in the sample below STATS_SAMPLE records: its
                # bounds and count are the field's own
                sampled = numeric if stats_step == 1 else numeric.gather_every(stats_step)
                same = {"lo": "min", "hi": "max", "len": "count"} if stats_step == 1 else {}
                self.dist_slots[path] = {
                    name: stat[same[name]] if name in same else p.add(agg, "first")
                    for name, agg in distribution_aggs(sampled)
                }
            self.stat_slots[path] = stat

    def for_batch(self, reference: datetime) -> Plan:
        """This plan with the freshness windows of a batch received at `reference`:
        a copy, so the plan (all but the windows) serves the next batches too."""
        plan = copy.copy(self)
        plan.p = self.p.copy()
        plan.time_plans = {path: tp.copy() for path, tp in self.time_plans.items()}
        plan.fresh_slots = []
        for rule in self.rules.of_kind("freshness"):
            time_plan = plan.time_plans.get(rule.field or "")
            if time_plan is not None:
                time_plan.add_window(rule, reference, plan.p, plan.ids, plan.k)
            plan.fresh_slots.append((rule, time_plan))
        return plan

    def nulls(self, path: str, expr: pl.Expr) -> str:
        """The alias of a field's null count (one aggregate however many rules ask)."""
        if path not in self.null_aliases:
            self.null_aliases[path] = self.p.add(expr.null_count())
        return self.null_aliases[path]

    def get(self, path: str) -> tuple[pl.Expr, pl.DataType] | None:
        if path not in self.field_of:
            self.field_of[path] = resolve(self.schema, path)
        return self.field_of[path]

    def seen_values(self, rule: Rule) -> pl.Series | None:
        seen = self.context.seen.get(rule.name)
        if not seen:
            return None
        return pl.Series(list(seen), dtype=pl.String).implode()

    def dup_aggs(
        self, values: list[pl.Expr], ids: pl.Expr, valid: pl.Expr | None
    ) -> tuple[list[pl.Expr], list[pl.Expr], pl.Expr, pl.Expr | None]:
        """Exact duplicates among candidate rows (every row whose value may repeat):
        per rule a count and the ids of such rows; records duplicated under any rule,
        and how many of them also broke a value rule (accuracy counts each once)."""
        masks = []
        for rule, value in zip(self.unique_rules, values, strict=True):
            mask = value.is_not_null() & value.is_duplicated()
            seen = self.seen_values(rule)
            if seen is not None:
                mask = mask | as_text(value).is_in(seen)
            masks.append(mask)
        dup_any = pl.any_horizontal(masks)
        counts = [m.sum() for m in masks]
        samples = [ids.filter(m) for m in masks]
        both = (dup_any & valid).sum() if valid is not None else None
        return counts, samples, dup_any.sum(), both

    def check_sizes(self, row: dict[str, Any], frame: pl.DataFrame, source: str) -> None:
        """Refuse a string longer than max_value_bytes (the first such column)."""
        limit = self.max_value_bytes
        for name, expr, alias in self.size_slots:
            longest = row.get(alias)
            if limit is not None and longest is not None and longest > limit:
                refuse_long_value(frame, source, name, expr, longest, limit)

    def finish(self, row: dict[str, Any], n: int) -> Evaluation:
        """The Evaluation from the pass's (merged) results over `n` records."""
        ev = Evaluation(records=n, findings=[], observed_fields=observed_fields(self.schema))
        ev.required_fields = self.required_fields
        for rule, sample_alias, detail in self.early:
            if sample_alias is None:  # a custom rule skipped
                ev.findings.append(Finding(rule, 0, (), detail))
                continue
            ev.findings.append(Finding(rule, n, ids_of(row.get(sample_alias)), detail))
            ev.missing_required += n

        overlap = 0
        if self.unique_result is not None:
            counts, samples, ev.duplicates, overlap = self.unique_result
            for rule, count, sample in zip(self.unique_rules, counts, samples, strict=True):
                ev.findings.append(Finding(rule, count, sample))
        elif self.unique_slots:
            for rule, (count_alias, sample_alias) in zip(
                self.unique_rules, self.unique_slots, strict=True
            ):
                ev.findings.append(
                    Finding(rule, int(row[count_alias] or 0), ids_of(row.get(sample_alias)))
                )
            ev.duplicates = int(row[self.p_dup] or 0) if self.p_dup else 0
            overlap = int(row[self.p_both] or 0) if self.p_both else 0

        for time_plan in self.time_plans.values():
            time_plan.settle(row)

        if self.absent_required:
            ev.incomplete_records = n
        elif self.p_incomplete is not None:
            ev.incomplete_records = int(row[self.p_incomplete] or 0)

        for rule, count_alias, ids_alias, detail in self.pending:
            count = int(row[count_alias] or 0)
            if rule.kind == "required":
                ev.missing_required += count
            if rule.kind == "range":
                ev.out_of_range += count
            ev.findings.append(Finding(rule, count, ids_of(row.get(ids_alias)), detail))

        for rule, path, slot in self.type_slots:
            want = rules_type(self.typed, path)
            if slot.timestamp:
                time_plan = self.time_plans[path]
                count, sample, nonnull = (
                    time_plan.bad_count,
                    time_plan.bad_ids,
                    time_plan.nonnull,
                )
                value = time_plan.bad_value
            else:
                nonnull = n - int(row[slot.nulls] or 0)
                count, sample, value = slot.read(row, self.k)
            ev.typed_values += nonnull
            ev.type_mismatches += count
            detail = type_detail(value, want) if count else ""
            ev.findings.append(Finding(rule, count, sample, detail))
            ev.field_stats.setdefault(path, {})["type_mismatch"] = count

        invalid = int(row[self.p_invalid] or 0) if self.p_invalid else 0
        ev.invalid_records = invalid + ev.duplicates - overlap

        for rule, fresh in self.fresh_slots:
            if fresh is None:
                continue
            count, sample = fresh.window_result(rule)
            ev.stale += count
            ev.timed_records = max(ev.timed_records, fresh.nonnull - fresh.bad_count)
            ev.findings.append(Finding(rule, count, sample, fresh.window_detail(rule)))

        for path, slot_aliases in self.stat_slots.items():
            stats = ev.field_stats.setdefault(path, {})
            stats["nulls"] = int(row[slot_aliases["nulls"]] or 0)
            stats.setdefault("type_mismatch", 0)
            if "count" in slot_aliases:
                stats["numeric"] = {
                    key: finite(row[slot_aliases[key]])
                    for key in ("count", "mean", "std", "min", "max")
                }
                got = {name: row[alias] for name, alias in self.dist_slots[path].items()}
                stats["numeric"].update(distribution_result(got))
        for absent in {r.field or "" for r in self.required if self.get(r.field or "") is None}:
            ev.field_stats.setdefault(absent, {"nulls": n, "type_mismatch": 0})
        return ev


@dataclass
class _TypeSlot:
    """Aliases of one type check; `auto` keeps per-kind counts, samples and a value."""

    timestamp: bool = False
    nulls: str = ""
    count: str | None = None
    sample: str | None = None
    value: str | None = None
    kinds: list[tuple[str, str, str]] = field(default_factory=list)

    def read(self, row: dict[str, Any], k: int) -> tuple[int, tuple[str, ...], Any]:
        """Mismatch count, sample ids and one offending value."""
        if not self.kinds:
            count = int(row[self.count] or 0) if self.count else 0
            sample = ids_of(row.get(self.sample)) if self.sample else ()
            return count, sample, row.get(self.value) if self.value else None
        # the dominant kind (ties: the first in KINDS); every other kind mismatches
        counts = [int(row[c] or 0) for c, _, _ in self.kinds]
        dominant = counts.index(max(counts))
        others = [j for j in range(len(self.kinds)) if j != dominant and counts[j]]
        picks = sorted(
            (s for j in others for s in (row.get(self.kinds[j][1]) or ())),
            key=lambda s: s["r"],
        )
        value = None
        if others:
            first = min(others, key=lambda j: (row.get(self.kinds[j][1]) or [{"r": 0}])[0]["r"])
            value = row.get(self.kinds[first][2])
        return sum(counts[j] for j in others), ids_of([s["i"] for s in picks[:k]]), value


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
