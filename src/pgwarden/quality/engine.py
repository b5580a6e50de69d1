"""The one-pass evaluator: every record-level rule of a source as polars expressions.

All rules compile to aggregate expressions run together in ONE `select`, so
polars reads each column once and runs the expressions in parallel. Each
rule yields a count and at most `sample_size` sample ids
(`id.filter(mask).head(n)`): no failure table the size of the input is ever
built. Three choices keep the checks cheap next to the parse:

- ISO timestamps are compared as text. When every value of a field has the
  shape of the first one (same separator, digits, fraction and suffix,
  checked with one regex in the same pass), text order equals time order, so
  the freshness bounds are formatted in that shape and compared as strings.
  Otherwise a second pass parses the field (slower, but exact).
- Uniqueness hashes ids once: rows whose 64-bit hash repeats are the only
  candidates, and `is_duplicated` on the real values of those few rows makes
  the count exact even under a hash collision.
- Distribution statistics for anomaly detection take quantiles and a
  histogram from a deterministic stride sample of at most 50,000 values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl

from pgwarden.quality.rules import DEFAULT_MAX_FUTURE, DEFAULT_SEVERITY, Rule, RuleSet

SAMPLE_SIZE = 20
STATS_SAMPLE = 50_000  # values used for quantiles and histograms
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 10
_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})([T ])(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2}|[+-]\d{4})?$"
)
_NUMERIC_TYPES = ("number", "integer")


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
    type_mismatches: int = 0
    typed_values: int = 0
    invalid_records: int = 0  # out of range / not allowed / regex / custom, or duplicated
    out_of_range: int = 0
    duplicates: int = 0
    stale: int = 0
    timed_records: int = 0  # records with a readable timestamp under a freshness rule
    field_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    observed_fields: dict[str, str] = field(default_factory=dict)


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


class _Pass:
    """Row-level masks become columns first (`col`), so each is computed once however
    many aggregates read it; then all aggregates (`add`) run in one select."""

    def __init__(self) -> None:
        self.exprs: list[pl.Expr] = []
        self.levels: list[list[pl.Expr]] = [[], []]
        self.staged: pl.DataFrame | None = None
        self._n = 0

    def col(self, expr: pl.Expr, level: int = 0) -> pl.Expr:
        """Materialise a row-level expression; level 1 may read level-0 columns."""
        name = f"__m{self._n}"
        self._n += 1
        self.levels[level].append(expr.alias(name))
        return pl.col(name)

    def add(self, expr: pl.Expr) -> str:
        alias = f"_e{len(self.exprs)}"
        self.exprs.append(expr.alias(alias))
        return alias

    def run(self, frame: pl.DataFrame) -> dict[str, Any]:
        staged = frame
        for level in self.levels:
            if level:
                staged = staged.with_columns(level)
        self.staged = staged
        if not self.exprs:
            return {}
        return staged.select(self.exprs).row(0, named=True)


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
    p = _Pass()
    ids = _id_expr(schema, rules.id_field)

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
    for rule in required:
        got = get(rule.field or "")
        if got is None:
            head = frame.select(ids.head(sample_size)).to_series().to_list()
            ev.findings.append(Finding(rule, n, tuple(map(str, head)), "field absent"))
            ev.missing_required += n
            continue
        expr, _ = got
        pending.append((rule, p.add(expr.null_count()), samples(p.col(expr.is_null())), ""))

    # -- types: explicit rules, and the types implied by range / freshness --
    timestamp_fields = {r.field for r in rules.of_kind("freshness")}
    typed: dict[str, tuple[Rule, str]] = {}
    for rule in rules.of_kind("type"):
        typed[rule.field or ""] = (rule, rule.type or "auto")
    for rule in rules.of_kind("range"):
        typed.setdefault(rule.field or "", (_implied(rule, "number"), "number"))
    for rule in rules.of_kind("freshness"):
        typed.setdefault(rule.field or "", (_implied(rule, "timestamp"), "timestamp"))
    time_plans: dict[str, _TimePlan] = {}
    for path in timestamp_fields | {f for f, (_, t) in typed.items() if t == "timestamp"}:
        got = get(path or "")
        if got is not None:
            time_plans[path or ""] = _TimePlan.make(frame, got, reference)
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
        mask = _mismatch(expr, dtype, want)
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
            mask = _value_mask(rule, *got)
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
            cand_parts.append(_as_text(expr).is_in(seen_values))
    cand = p.col(pl.any_horizontal(cand_parts)) if unique_rules else None
    valid_any = p.col(pl.any_horizontal(validity), level=1) if validity else None
    p_invalid = p.add(valid_any.sum()) if valid_any is not None else None

    # -- freshness ----------------------------------------------------------
    fresh_slots: list[tuple[Rule, _TimePlan | None]] = []
    for rule in rules.of_kind("freshness"):
        plan = time_plans.get(rule.field or "")
        if plan is not None:
            plan.add_window(rule, reference, p, ids, sample_size)
        fresh_slots.append((rule, plan))

    # -- per-field statistics -----------------------------------------------
    stat_fields = _stat_fields(rules, schema, get)
    stat_slots: dict[str, dict[str, str]] = {}
    for path, (expr, _dtype, numeric) in stat_fields.items():
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

    for rule, count_alias, ids_alias, detail in pending:
        count = int(row[count_alias] or 0)
        if rule.kind == "required":
            ev.missing_required += count
        if rule.kind == "range":
            ev.out_of_range += count
        ev.findings.append(Finding(rule, count, _ids(row.get(ids_alias)), detail))

    for rule, path, mismatch_alias, nonnull_alias, sample_alias in type_slots:
        if nonnull_alias is None:
            plan = time_plans[path]
            count, sample, nonnull = plan.bad_count, plan.bad_ids, plan.nonnull
        else:
            nonnull = int(row[nonnull_alias] or 0)
            count = int(row[mismatch_alias] or 0) if mismatch_alias else 0
            sample = _ids(row.get(sample_alias)) if sample_alias else ()
        ev.typed_values += nonnull
        ev.type_mismatches += count
        detail = ""
        if count:
            detail = _type_detail(frame, get(path), rules_type(typed, path), time_plans.get(path))
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
                k: _num(row[slot[k]]) for k in ("count", "mean", "std", "min", "max")
            }
            numeric = stat_fields[path][2]
            assert numeric is not None
            stats["numeric"].update(_distribution(frame, numeric, n))
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
            mask = mask | _as_text(value).is_in(pl.Series(list(seen), dtype=pl.String).implode())
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
        ev.findings.append(Finding(rule, int(row[f"c{i}"] or 0), _ids(row[f"s{i}"])))
    ev.duplicates = int(row["dup"] or 0)
    return int(row["both"] or 0)


def compile_check(rules: RuleSet) -> None:
    """Run the rules once on a one-record frame: a rule that cannot compile fails here,
    at `rules set` time, rather than on the first batch. Raises RulesInvalid."""
    from pgwarden.quality.errors import RulesInvalid

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


# -- timestamps --------------------------------------------------------------


@dataclass
class _TimePlan:
    """How one timestamp field is read: as text (fast) or parsed, decided by its shape."""

    expr: pl.Expr
    dtype: pl.DataType
    sample: str | None = None
    regex: str | None = None
    tz: timezone = UTC
    sep: str = "T"
    frac: int = 0
    suffix: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    windows: dict[str, tuple[datetime, datetime, str, str]] = field(default_factory=dict)
    results: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    nonnull: int = 0
    bad_count: int = 0
    bad_ids: tuple[str, ...] = ()
    parsed: bool = False

    @classmethod
    def make(
        cls, frame: pl.DataFrame, got: tuple[pl.Expr, pl.DataType], reference: datetime
    ) -> _TimePlan:
        expr, dtype = got
        plan = cls(expr=expr, dtype=dtype)
        if dtype != pl.String:
            return plan
        head = frame.select(expr.head(1000)).to_series()
        first = head.drop_nulls().head(1).to_list()
        if not first:
            first = frame.select(expr.drop_nulls().first()).to_series().to_list()
        if not first or first[0] is None:
            return plan
        plan.sample = first[0]
        match = _ISO.match(plan.sample)
        if match is None:
            return plan
        plan.sep = match.group(2)
        plan.frac = len(match.group(4) or ".") - 1
        plan.suffix = match.group(5) or ""
        if plan.suffix and plan.suffix != "Z":
            sign = 1 if plan.suffix[0] == "+" else -1
            digits = plan.suffix[1:].replace(":", "")
            plan.tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        plan.regex = (
            r"^\d{4}-\d{2}-\d{2}"
            + re.escape(plan.sep)
            + r"\d{2}:\d{2}:\d{2}"
            + (rf"\.\d{{{plan.frac}}}" if plan.frac else "")
            + re.escape(plan.suffix)
            + "$"
        )
        return plan

    @property
    def text_order(self) -> bool:
        return self.regex is not None and not self.parsed

    def fmt(self, moment: datetime) -> str:
        local = moment.astimezone(self.tz)
        text = local.strftime(f"%Y-%m-%d{self.sep}%H:%M:%S")
        if self.frac:
            text += "." + f"{local.microsecond:06d}".ljust(self.frac, "0")[: self.frac]
        return text + self.suffix

    def parsed_expr(self) -> pl.Expr:
        if self.dtype == pl.String:
            x = self.expr
            aware = x.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="us", strict=False)
            aware_sp = x.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", time_unit="us", strict=False)
            naive = x.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
            naive_sp = x.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
            date = x.str.to_datetime("%Y-%m-%d", time_unit="us", strict=False)
            return pl.coalesce(
                aware.dt.convert_time_zone("UTC"),
                aware_sp.dt.convert_time_zone("UTC"),
                naive.dt.replace_time_zone("UTC"),
                naive_sp.dt.replace_time_zone("UTC"),
                date.dt.replace_time_zone("UTC"),
            )
        if isinstance(self.dtype, pl.Datetime):
            if self.dtype.time_zone is None:
                return self.expr.dt.replace_time_zone("UTC")
            return self.expr.dt.convert_time_zone("UTC")
        if self.dtype == pl.Date:
            return self.expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        return pl.repeat(None, pl.len(), dtype=pl.Datetime("us", "UTC"))

    def register(self, p: _Pass, ids: pl.Expr, sample_size: int) -> None:
        """Add the type check (shape, or readable timestamp) to the pass, once."""
        if "nonnull" in self.aliases:
            return
        self.aliases["nonnull"] = p.add(self.expr.is_not_null().sum())
        if self.text_order:
            self.aliases["shape_ok"] = p.add(self.expr.str.contains(str(self.regex)).all())
        elif self.dtype == pl.String or not _is_time(self.dtype):
            bad = p.col(self.expr.is_not_null() & self.parsed_expr().is_null())
            self.aliases["bad"] = p.add(bad.sum())
            self.aliases["bad_ids"] = p.add(ids.filter(bad).head(sample_size).implode())

    def add_window(
        self, rule: Rule, reference: datetime, p: _Pass, ids: pl.Expr, sample_size: int
    ) -> None:
        self.register(p, ids, sample_size)
        lo = reference - timedelta(seconds=rule.max_age or 0)
        future = DEFAULT_MAX_FUTURE if rule.max_future is None else rule.max_future
        hi = reference + timedelta(seconds=future)
        mask = p.col(self._stale_mask(lo, hi))
        self.windows[rule.name] = (
            lo,
            hi,
            p.add(mask.sum()),
            p.add(ids.filter(mask).head(sample_size).implode()),
        )

    def _stale_mask(self, lo: datetime, hi: datetime) -> pl.Expr:
        if self.text_order:
            return (self.expr < self.fmt(lo)) | (self.expr > self.fmt(hi))
        value = self.parsed_expr()
        return (value < lo) | (value > hi)

    def settle(self, frame: pl.DataFrame, row: dict[str, Any], ids: pl.Expr, size: int) -> None:
        """Read the pass's results; re-run with parsing if the text shape did not hold."""
        if "nonnull" not in self.aliases:
            return
        self.nonnull = int(row[self.aliases["nonnull"]] or 0)
        if self.text_order and row[self.aliases["shape_ok"]] is False:
            self.parsed = True
            p = _Pass()
            self.aliases.pop("shape_ok")
            self.aliases.pop("nonnull")
            self.register(p, ids, size)
            for name, (lo, hi, _, _) in list(self.windows.items()):
                mask = p.col(self._stale_mask(lo, hi))
                self.windows[name] = (
                    lo,
                    hi,
                    p.add(mask.sum()),
                    p.add(ids.filter(mask).head(size).implode()),
                )
            row = {**row, **p.run(frame)}
        if "bad" in self.aliases:
            self.bad_count = int(row[self.aliases["bad"]] or 0)
            self.bad_ids = _ids(row.get(self.aliases["bad_ids"]))
        for name, (_, _, count_alias, ids_alias) in self.windows.items():
            self.results[name] = (int(row[count_alias] or 0), _ids(row.get(ids_alias)))

    def window_result(self, rule: Rule) -> tuple[int, tuple[str, ...]]:
        return self.results.get(rule.name, (0, ()))

    def window_detail(self, rule: Rule) -> str:
        lo, hi, _, _ = self.windows[rule.name]
        how = "compared as text" if self.text_order else "parsed"
        return f"window {lo.isoformat()} .. {hi.isoformat()} ({how})"


def _is_time(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Datetime) or dtype == pl.Date


# -- helpers -------------------------------------------------------------------


def _implied(rule: Rule, want: str) -> Rule:
    return Rule(
        kind="type",
        field=rule.field,
        name=f"type:{rule.field}",
        severity=DEFAULT_SEVERITY["type"],
        type=want,
        message=f"implied by rule {rule.name!r}",
    )


def _as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String, strict=False)


def _id_expr(schema: Mapping[str, pl.DataType], id_field: str) -> pl.Expr:
    got = resolve(schema, id_field)
    if got is None:
        return pl.format("row {}", pl.int_range(pl.len()))
    expr, dtype = got
    if dtype == pl.String:
        return expr
    if isinstance(dtype, pl.Struct | pl.List):
        return expr.cast(pl.String, strict=False).fill_null("?")
    return expr.cast(pl.String)


def _mismatch(expr: pl.Expr, dtype: pl.DataType, want: str) -> pl.Expr | None:
    """Mask of non-null values not of type `want`; None when the dtype guarantees it."""
    present = expr.is_not_null()
    if dtype == pl.Null:
        return None
    if want == "auto":
        if dtype != pl.String:
            return None
        kind = (
            pl.when(expr.cast(pl.Float64, strict=False).is_not_null())
            .then(pl.lit(0))
            .when(expr.str.starts_with("{") | expr.str.starts_with("["))
            .then(pl.lit(1))
            .when(expr.is_in(["true", "false"]))
            .then(pl.lit(2))
            .otherwise(pl.lit(3))
        )
        return present & (kind != kind.filter(present).mode().first())
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


def _numeric_view(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    if dtype.is_numeric():
        return expr
    if dtype == pl.String:
        return expr.cast(pl.Float64, strict=False)
    return None


def _value_mask(rule: Rule, expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Rows breaking a range / allowed / regex rule (nulls and wrong types excluded)."""
    if rule.kind == "range":
        num = _numeric_view(expr, dtype)
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


def _stat_fields(
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
            numeric = _numeric_view(expr, dtype)
            if numeric is not None and dtype != pl.Float64:
                numeric = numeric.cast(pl.Float64)
        out[path] = (expr, dtype, numeric)
    return out


def _distribution(frame: pl.DataFrame, numeric: pl.Expr, n: int) -> dict[str, Any]:
    """Quantiles and a 10-bin histogram from a stride sample (deterministic, bounded)."""
    step = max(1, n // STATS_SAMPLE)
    values = frame.select(numeric.gather_every(step).drop_nulls().alias("v")).to_series()
    if values.len() == 0:
        return {"quantiles": [], "histogram": {"edges": [], "counts": []}, "sampled": 0}
    qs = [_num(values.quantile(q, interpolation="linear")) for q in QUANTILES]
    lo, hi = float(values.min()), float(values.max())  # type: ignore[arg-type]
    width = (hi - lo) / HISTOGRAM_BINS or 1.0
    edges = [lo + i * width for i in range(HISTOGRAM_BINS + 1)]
    bins = ((values - lo) / width).floor().clip(0, HISTOGRAM_BINS - 1).cast(pl.Int32)
    counts = [0] * HISTOGRAM_BINS
    for b, c in bins.value_counts().iter_rows():
        counts[b] = int(c)
    return {
        "quantile_levels": list(QUANTILES),
        "quantiles": qs,
        "histogram": {"edges": edges, "counts": counts},
        "sampled": int(values.len()),
    }


def _type_detail(
    frame: pl.DataFrame,
    got: tuple[pl.Expr, pl.DataType] | None,
    want: str,
    plan: _TimePlan | None,
) -> str:
    """One offending value, shown in the violation message."""
    if got is None:
        return ""
    expr, dtype = got
    mask: pl.Expr | None
    if want == "timestamp" and plan is not None:
        mask = expr.is_not_null() & plan.parsed_expr().is_null()
    else:
        mask = _mismatch(expr, dtype, want)
    if mask is None:
        return ""
    value = frame.select(expr.filter(mask).first()).to_series().to_list()
    if not value:
        return ""
    shown = repr(value[0])
    if len(shown) > 60:
        shown = shown[:50] + f"... ({len(shown)} chars)"
    return f"expected {want}, e.g. {shown}"


def _ids(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(str(v) for v in value)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
