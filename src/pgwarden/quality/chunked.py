"""The memory ceiling: `evaluate` over a batch cut into chunks, one chunk held at a time.

Each chunk runs the evaluator's one pass; the aggregates merge as they
declare (`onepass.py`), the per-field moments by Chan's formulas, the stats
sample is gathered across chunks, and uniqueness spans chunks through a
spill of each chunk's ids, hashes and values to a temporary directory.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import polars as pl

from pgwarden.quality.evaluator import SAMPLE_SIZE, STATS_SAMPLE, CheckContext, Evaluation, Plan
from pgwarden.quality.fields import as_text, distribution_aggs
from pgwarden.quality.onepass import ENGINE, OPTIMIZATIONS, ROW, collect, ids_of
from pgwarden.quality.rules import RuleSet

#: chunked uniqueness looks for repeated hashes this many at a time (about 40 MB
#: of hash table each)
HASHES_PER_PART = 500_000


class Reparse(Exception):
    """A chunk showed a timestamp field whose values do not share one shape: the
    chunked evaluation starts again reading those fields parsed."""

    def __init__(self, paths: set[str]) -> None:
        super().__init__(", ".join(sorted(paths)))
        self.paths = paths


def evaluate_chunks(
    chunks: Callable[[], Iterator[pl.DataFrame]],
    rules: RuleSet,
    reference: datetime,
    context: CheckContext | None = None,
    *,
    sample_size: int = SAMPLE_SIZE,
    max_value_bytes: int | None = None,
    source: str = "?",
    estimate_records: Callable[[pl.DataFrame], int] | None = None,
) -> Evaluation:
    """`evaluate` over a batch cut into chunks (all of one schema, in record order),
    holding one chunk at a time: the counts, scores and sample ids equal those of
    the whole frame.

    Each chunk runs the same one pass; sums add and samples keep the first ones
    in record order. Uniqueness spans chunks: each chunk's ids, hashes and values
    of unique fields go to a spill file, and the exact duplicate check runs at the
    end on the rows whose hash repeats. Per-field mean and std are merged (equal up
    to float rounding); the quantiles and histogram come from a stride sample whose
    step is set from `estimate_records(first chunk)` (an estimate of the record
    count) rather than the exact count.
    `chunks()` may be called twice: once more, with timestamp fields parsed, when
    one chunk shows mixed timestamp shapes (as the whole-frame pass does).
    """
    context = context or CheckContext()
    parse: set[str] = set()
    while True:
        try:
            return _evaluate_chunks(
                chunks(),
                rules,
                reference,
                context,
                sample_size,
                max_value_bytes,
                source,
                estimate_records,
                parse,
            )
        except Reparse as again:
            if again.paths <= parse:
                raise
            parse |= again.paths


def _evaluate_chunks(
    chunks: Iterator[pl.DataFrame],
    rules: RuleSet,
    reference: datetime,
    context: CheckContext,
    sample_size: int,
    max_value_bytes: int | None,
    source: str,
    estimate_records: Callable[[pl.DataFrame], int] | None,
    parse: set[str],
) -> Evaluation:
    first = next(chunks)
    expected = estimate_records(first) if estimate_records else first.height
    step = max(1, expected // STATS_SAMPLE)
    plan = Plan(
        first,
        rules,
        context,
        sample_size,
        stats_step=step,
        max_value_bytes=max_value_bytes,
        chunked=True,
        parse=parse,
    ).for_batch(reference)
    rows: list[dict[str, Any]] = []
    start = 0
    # the first chunk is not held past its turn (one chunk in memory at a time)
    ordered = itertools.chain([first], chunks)
    del first
    with tempfile.TemporaryDirectory(prefix="pgwarden-quality-") as spill:
        files: list[str] = []
        for chunk in ordered:
            if chunk.schema != plan.schema:
                raise ValueError(f"chunk schema {chunk.schema} differs from {plan.schema}")
            indexed = chunk.with_row_index(ROW, offset=start)
            lf = plan.p.query(indexed, whole=False)
            if plan.spill_exprs:
                files.append(f"{spill}/{len(files)}.arrow")
                row_frame, spilled = pl.collect_all(
                    [lf.select(plan.p.exprs), lf.select(plan.spill_exprs)],
                    engine=ENGINE,
                    optimizations=OPTIMIZATIONS,
                )
                spilled.write_ipc(files[-1])
                del spilled
            else:
                row_frame = collect(lf.select(plan.p.exprs))
            row = row_frame.row(0, named=True)
            plan.check_sizes(row, chunk, source)
            failed = {path for path, tp in plan.time_plans.items() if tp.shape_failed(row)}
            if failed:
                raise Reparse(failed)
            rows.append(row)
            start += chunk.height
            del chunk, indexed, lf
        merged = plan.p.merge(rows)
        merge_moments(plan, rows, merged)
        distributions_from_samples(plan, merged)
        if files:
            uniqueness_from_spill(plan, files, start)
    return plan.finish(merged, start)


def merge_moments(plan: Plan, rows: list[dict[str, Any]], merged: dict[str, Any]) -> None:
    """Mean and std of the whole from each chunk's count, mean and std (Chan et al.)."""
    if len(rows) == 1:
        return
    for count_alias, mean_alias, std_alias in plan.moments:
        n, mean, m2 = 0, 0.0, 0.0
        for row in rows:
            nb = int(row.get(count_alias) or 0)
            if nb == 0:
                continue
            mb = float(row[mean_alias])
            m2b = float(row[std_alias] or 0.0) ** 2 * (nb - 1)
            total = n + nb
            delta = mb - mean
            mean += delta * nb / total
            m2 += m2b + delta * delta * n * nb / total
            n = total
        merged[mean_alias] = mean if n else None
        merged[std_alias] = math.sqrt(m2 / (n - 1)) if n > 1 else None


def distributions_from_samples(plan: Plan, merged: dict[str, Any]) -> None:
    """Chunked: quantiles and histogram of the stride sample gathered across chunks."""
    for path, slots in plan.dist_slots.items():
        values = pl.Series("v", merged.pop(slots["values"]) or [], dtype=pl.Float64)
        got = pl.DataFrame([values]).select(
            [agg.alias(name) for name, agg in distribution_aggs(pl.col("v"))]
        )
        plan.dist_slots[path] = {}
        for name, value in got.row(0, named=True).items():
            merged[f"{path}:{name}"] = value
            plan.dist_slots[path][name] = f"{path}:{name}"


def uniqueness_from_spill(plan: Plan, files: list[str], records: int) -> None:
    """Chunked: exact duplicates across chunks, from the spilled ids, hashes and values.

    Spill files are read one at a time, and repeated hashes are looked for one
    hash range at a time (HASHES_PER_PART hashes each), so this step's
    memory stays bounded like a chunk's.
    """
    parts = max(1, -(-records // HASHES_PER_PART))
    repeated: list[pl.Series] = []
    for i in range(len(plan.unique_rules)):
        hashed = pl.col(f"__h{i}")
        found: list[pl.Series] = []
        for part in range(parts):
            hashes = pl.concat(
                [
                    pl.read_ipc(f, columns=[f"__h{i}"])
                    .filter(hashed.is_not_null() & (hashed % parts == part))
                    .to_series()
                    for f in files
                ]
            )
            found.append(hashes.filter(hashes.is_duplicated()).unique())
            del hashes
        repeated.append(pl.concat(found))
    cand_parts: list[pl.Expr] = []
    for i, rule in enumerate(plan.unique_rules):
        cand_parts.append(pl.col(f"__h{i}").is_in(repeated[i].implode()))
        seen = plan.seen_values(rule)
        if seen is not None:
            cand_parts.append(as_text(pl.col(f"__u{i}")).is_in(seen))
    candidates = pl.concat([pl.read_ipc(f).filter(pl.any_horizontal(cand_parts)) for f in files])
    values = [pl.col(f"__u{i}") for i in range(len(plan.unique_rules))]
    counts, samples, dup, both = plan.dup_aggs(values, pl.col("__id"), pl.col("__v"))
    k = plan.k
    aggs = [c.alias(f"c{i}") for i, c in enumerate(counts)]
    aggs += [s.head(k).implode().alias(f"s{i}") for i, s in enumerate(samples)]
    aggs += [dup.alias("dup"), (both if both is not None else pl.lit(0)).alias("both")]
    row = collect(candidates.lazy().select(aggs)).row(0, named=True)
    n = len(plan.unique_rules)
    plan.unique_result = (
        [int(row[f"c{i}"] or 0) for i in range(n)],
        [ids_of(row[f"s{i}"]) for i in range(n)],
        int(row["dup"] or 0),
        int(row["both"] or 0),
    )
