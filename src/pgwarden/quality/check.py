"""`check_batch`: a batch and its rules in, a `BatchResult` out (pure but for the clock
readings that measure its own speed).

It reads the batch, runs the one-pass engine, adds the batch-level checks
(the seed's metadata checks, row count against expected_records, schema
drift against the learned schema) and scores the result. An unreadable batch
becomes a REJECTED result carrying the reason, never an exception, so the
caller can store it.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.quality.batch import (
    DEFAULT_MAX_VALUE_BYTES,
    ChunkUnreadable,
    DataBatch,
    canonical_format,
    csv_chunks,
    fits,
    guess_format,
    input_size,
    ndjson_chunks,
    read_batch,
)
from pgwarden.quality.errors import BatchInvalid
from pgwarden.quality.model import BatchMetadata, BatchResult, BatchStatus, Severity, Violation
from pgwarden.quality.rules import Rule, RuleSet
from pgwarden.quality.scoring import Levels, compute_scores

if TYPE_CHECKING:
    from pgwarden.quality.evaluator import Evaluation

log = logging.getLogger(__name__)

METADATA_MAX_AGE = 3600.0  # seconds; the seed's "data_freshness under one hour"
EXPECTED_RECORDS_MAX = 1_000_000  # the seed's expected_records range is 1..1,000,000
ROW_COUNT_TOLERANCE = 0.0  # share of expected_records a batch may miss by
MAX_MEMORY_MB = 512  # seed 004's cap on one batch's memory (runtime key quality.max_memory_mb)
# Peak memory of reading and checking JSON lines whole, per input byte: the frame
# (about 1.3x the text), the text itself and the pass's masks (measured 2.2x at
# 1 M records with benchmarks/quality.py); 3 leaves room.
MEMORY_PER_INPUT_BYTE = 3
# CSV carries no key per value, so its frame is 2-3x larger per input byte than
# JSON lines' (0.9x the text against 0.37x for the same records): 5 leaves room.
MEMORY_PER_CSV_BYTE = 5


@dataclass(frozen=True)
class CheckOptions:
    """Tunables of a check, filled from runtime keys by the edge (`options_from_config`)."""

    levels: Levels = field(default_factory=Levels)
    sample_size: int = 20
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    metadata_max_age: float = METADATA_MAX_AGE
    expected_records_max: int = EXPECTED_RECORDS_MAX
    max_memory_mb: int = MAX_MEMORY_MB

    def chunk_bytes(self, fmt: str = "ndjson") -> int:
        """Input bytes per chunk under the memory ceiling (see `chunked`)."""
        return max(1 << 20, self.max_memory_mb * 1_048_576 // memory_per_byte(fmt) // 6)


def memory_per_byte(fmt: str) -> int:
    return MEMORY_PER_CSV_BYTE if fmt == "csv" else MEMORY_PER_INPUT_BYTE


def check_batch(
    batch: DataBatch,
    rules: RuleSet,
    now: datetime,
    *,
    context: Any = None,
    options: CheckOptions | None = None,
    frame: Any = None,
    started: float | None = None,
) -> BatchResult:
    """Check one batch against its source's rules; `now` is the checked_at time.

    Freshness is measured from `batch.received_at`, so re-checking a stored
    batch gives the same scores. `frame` skips the read when the caller
    already has the polars frame (process_batch reads once to look up ids);
    `started` (a perf_counter reading) then makes the read count in the timing.
    Returns a REJECTED result (scores None) when the batch cannot be read.
    """
    options = options or CheckOptions()
    started = time.perf_counter() if started is None else started
    rss_before, peak_before = _rss(), _peak_rss()
    meta = batch.meta()
    # Lazy for start-up time: the evaluator imports polars (about 0.5 s), which
    # `pgwarden quality` commands that never check a batch should not pay.
    from pgwarden.quality.evaluator import CheckContext, evaluate

    ctx = context or CheckContext()
    if frame is None and chunked(batch, options):
        try:
            ev = _evaluate_in_chunks(batch, rules, ctx, options)
        except BatchInvalid as exc:
            return rejected(batch, str(exc), now, meta=meta, rules=rules)
        except ChunkUnreadable:
            log.info(
                "batch %s does not read in chunks; reading it whole",
                batch.id,
                extra={"action": "quality_chunks_fallback", "batch_id": batch.id},
            )
        else:
            return _result(
                batch, rules, now, meta, ctx, options, ev, None, started, (rss_before, peak_before)
            )
    try:
        # a frame from the caller was size-checked when it was read; a batch read
        # here is size-checked in the evaluation's own pass
        limit = None
        if frame is None:
            frame = read_batch(batch.records, batch.fmt, source=batch.source, max_value_bytes=None)
            if not fits(batch.records, options.max_value_bytes):
                limit = options.max_value_bytes
        ev = evaluate(
            frame,
            rules,
            batch.received_at,
            ctx,
            sample_size=options.sample_size,
            max_value_bytes=limit,
            source=batch.source,
        )
    except BatchInvalid as exc:
        return rejected(batch, str(exc), now, meta=meta, rules=rules)
    return _result(
        batch, rules, now, meta, ctx, options, ev, frame, started, (rss_before, peak_before)
    )


def chunked(batch: DataBatch, options: CheckOptions) -> bool:
    """Whether a batch is checked in chunks: JSON lines or CSV (bytes or a file) whose
    whole check would need more than `options.max_memory_mb`."""
    fmt = chunk_format(batch)
    if fmt is None:
        return False
    need = input_size(batch.records, None) * memory_per_byte(fmt)
    return need > options.max_memory_mb * 1_048_576


def chunk_format(batch: DataBatch) -> str | None:
    """'ndjson' or 'csv' for a batch that can be read in chunks, else None."""
    data = batch.records
    if isinstance(data, bytes | bytearray | memoryview):
        fmt = batch.fmt or guess_format(bytes(data[:4096]))
    elif isinstance(data, str | Path):
        try:
            with open(data, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            return None  # read_batch names the problem
        fmt = batch.fmt or guess_format(head, Path(data).name)
    else:
        return None
    fmt = canonical_format(fmt)
    return fmt if fmt in ("ndjson", "csv") else None


def _evaluate_in_chunks(
    batch: DataBatch, rules: RuleSet, ctx: Any, options: CheckOptions
) -> Evaluation:
    from pgwarden.quality.chunked import evaluate_chunks

    data = batch.records
    fmt = chunk_format(batch) or "ndjson"
    size = options.chunk_bytes(fmt)
    total = input_size(data, None)
    read_chunks = csv_chunks if fmt == "csv" else ndjson_chunks

    def estimate(first: Any) -> int:
        # records per input byte of the first chunk, for the stride of the stats sample
        return max(1, round(first.height * total / min(size, total)))

    return evaluate_chunks(
        lambda: read_chunks(data, size, source=batch.source),
        rules,
        batch.received_at,
        ctx,
        sample_size=options.sample_size,
        max_value_bytes=options.max_value_bytes,
        source=batch.source,
        estimate_records=estimate,
    )


def _result(
    batch: DataBatch,
    rules: RuleSet,
    now: datetime,
    meta: BatchMetadata,
    ctx: Any,
    options: CheckOptions,
    ev: Evaluation,
    frame: Any,
    started: float,
    memory_before: tuple[int, int],
) -> BatchResult:
    """The BatchResult of an evaluation: batch-level checks, metadata checks, scores."""
    rss_before, peak_before = memory_before
    violations = [
        _violation(f.rule, f.count, f.sample_ids, f.detail, ev.records)
        for f in ev.findings
        if f.count > 0
    ]
    rule_counts = {f.rule.name: f.count for f in ev.findings}
    for rule in rules.rules:
        rule_counts.setdefault(rule.name, 0)
    for v in _batch_level(rules, meta, ev.records, batch.received_at, ctx, ev.observed_fields):
        rule_counts[v.rule] = v.count
        if v.count > 0:
            violations.append(v)
    if rules.metadata_checks:
        for v in metadata_violations(meta, batch.received_at, options):
            violations.append(v)
            rule_counts[v.rule] = v.count
    counts = {
        "records": ev.records,
        "required_fields": ev.required_fields,
        "missing_values": ev.missing_required,
        "incomplete_records": ev.incomplete_records,
        "type_mismatches": ev.type_mismatches,
        "typed_values": ev.typed_values,
        "invalid_records": ev.invalid_records,
        "out_of_range": ev.out_of_range,
        "duplicates": ev.duplicates,
        "stale_records": ev.stale,
        "timed_records": ev.timed_records,
        "violation_count": len(violations),
        # how the scores were computed, kept with their inputs (1 = yes)
        "completeness_cells": int(rules.completeness == "cell"),
        "default_rules": int(rules.defaults),
    }
    scores = compute_scores(counts, rules.weights, options.levels)
    elapsed = max(time.perf_counter() - started, 1e-9)
    size = input_size(batch.records, frame)
    frame_bytes = int(frame.estimated_size()) if frame is not None else 0
    return BatchResult(
        batch_id=batch.id,
        source=batch.source,
        received_at=batch.received_at,
        checked_at=now,
        records=ev.records,
        status=BatchStatus.ACCEPTED,
        scores=scores,
        violations=tuple(violations),
        metadata=meta,
        field_stats=ev.field_stats,
        processing_seconds=elapsed,
        records_per_second=ev.records / elapsed,
        mb_per_second=size / 1_048_576 / elapsed,
        peak_memory_bytes=_peak_extra(rss_before, peak_before, frame_bytes),
        input_bytes=size,
        counts=counts,
        rule_counts=rule_counts,
        schema=ev.observed_fields,
        rules_version=rules.version,
    )


def rejected(
    batch: DataBatch,
    reason: str,
    now: datetime,
    *,
    meta: BatchMetadata | None = None,
    rules: RuleSet | None = None,
) -> BatchResult:
    """The result of a batch that could not be read: stored as REJECTED with its reason."""
    records = len(batch.records) if isinstance(batch.records, list) else 0
    return BatchResult(
        batch_id=batch.id,
        source=batch.source,
        received_at=batch.received_at,
        checked_at=now,
        records=records,
        status=BatchStatus.REJECTED,
        scores=None,
        violations=(),
        metadata=meta if meta is not None else BatchMetadata(),
        reject_reason=reason,
        counts={
            "records": records,
            "violation_count": 0,
            "default_rules": int(rules.defaults) if rules else 0,
        },
        rules_version=rules.version if rules else None,
    )


def metadata_violations(
    meta: BatchMetadata, received_at: datetime, options: CheckOptions
) -> list[Violation]:
    """The seed's metadata checks: source_system and pipeline_stage present,
    data_freshness under the max age, expected_records within 1..max."""
    out: list[Violation] = []
    invalid = meta.extra.get("invalid") or {}

    def add(name: str, message: str) -> None:
        out.append(
            Violation(
                rule=f"metadata:{name}",
                kind="metadata",
                field=f"metadata.{name}",
                severity=Severity.MEDIUM,
                count=1,
                message=message,
            )
        )

    if not meta.source_system:
        add("source_system", "batch metadata lacks source_system")
    if not meta.pipeline_stage:
        add("pipeline_stage", "batch metadata lacks pipeline_stage")
    if "data_freshness" in invalid:
        add("data_freshness", f"data_freshness {invalid['data_freshness']!r} is not a timestamp")
    elif meta.data_freshness is not None:
        age = (received_at - meta.data_freshness).total_seconds()
        if age > options.metadata_max_age:
            add(
                "data_freshness",
                f"data is {age:,.0f} s old at receipt; the limit is "
                f"{options.metadata_max_age:,.0f} s",
            )
    if "expected_records" in invalid:
        add(
            "expected_records",
            f"expected_records {invalid['expected_records']!r} is not a whole number",
        )
    elif meta.expected_records is not None and not (
        1 <= meta.expected_records <= options.expected_records_max
    ):
        add(
            "expected_records",
            f"expected_records {meta.expected_records:,} is outside "
            f"1..{options.expected_records_max:,}",
        )
    return out


def _batch_level(
    rules: RuleSet,
    meta: BatchMetadata,
    records: int,
    received_at: datetime,
    ctx: Any,
    observed: dict[str, str],
) -> list[Violation]:
    out = []
    for rule in rules.of_kind("row_count"):
        expected = meta.expected_records
        if expected is None or expected <= 0:
            out.append(_violation(rule, 0, (), "no expected_records in the metadata", records))
            continue
        diff = abs(records - expected)
        tolerance = ROW_COUNT_TOLERANCE if rule.tolerance is None else rule.tolerance
        count = diff if diff > tolerance * expected else 0
        detail = f"{records:,} records, {expected:,} expected (tolerance {tolerance:.0%})"
        out.append(_violation(rule, count, (), detail, records))
    for rule in rules.of_kind("schema"):
        learned = ctx.learned_fields
        if learned is None:
            out.append(_violation(rule, 0, (), "first batch: schema learned", records))
            continue
        appeared = sorted(set(observed) - set(learned))
        vanished = sorted(set(learned) - set(observed))
        changed = sorted(k for k in set(observed) & set(learned) if observed[k] != learned[k])
        parts = []
        if appeared:
            parts.append("appeared: " + ", ".join(appeared))
        if vanished:
            parts.append("vanished: " + ", ".join(vanished))
        if changed:
            parts.append(
                "type changed: " + ", ".join(f"{k} {learned[k]}->{observed[k]}" for k in changed)
            )
        count = len(appeared) + len(vanished) + len(changed)
        out.append(_violation(rule, count, (), "; ".join(parts), records))
    del received_at
    return out


_WHAT = {
    "required": "missing {field}",
    "type": "{field} not of the expected type",
    "range": "{field} outside [{min}, {max}]",
    "allowed": "{field} not one of the allowed values",
    "regex": "{field} not matching /{pattern}/",
    "unique": "{field} duplicated{window}",
    "freshness": "{field} outside the freshness window (max age {max_age:g} s)",
    "row_count": "record count differs from expected_records",
    "schema": "fields differ from the learned schema",
    "custom": "failing custom rule {name}",
}


def _violation(
    rule: Rule, count: int, samples: tuple[str, ...], detail: str, records: int
) -> Violation:
    window = ""
    if rule.window_batches:
        window = f" (within the batch and the last {rule.window_batches} batches)"
    elif rule.window_hours:
        window = f" (within the batch and the last {rule.window_hours:g} h)"
    what = _WHAT[rule.kind].format(
        field=rule.field,
        min="-inf" if rule.min is None else f"{rule.min:g}",
        max="inf" if rule.max is None else f"{rule.max:g}",
        pattern=rule.pattern,
        max_age=rule.max_age or 0,
        window=window,
        name=rule.name,
    )
    unit = "" if rule.kind in ("row_count", "schema") else f" in {count:,} of {records:,} records"
    message = rule.message or what
    if count:
        message = f"{message}{unit}"
    if detail:
        message = f"{message}; {detail}"
    return Violation(
        rule=rule.name,
        kind=rule.kind,
        field=rule.field,
        severity=rule.severity,
        count=count,
        sample_ids=samples,
        message=message,
    )


def _rss() -> int:
    """Current resident memory in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize()


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _peak_extra(rss_before: int, peak_before: int, frame_bytes: int) -> int:
    """Extra memory the batch needed: the rise of the process's peak when it set a new one,
    else (the peak is a high-water mark) at least the frame's own size."""
    peak_after = _peak_rss()
    if peak_after > peak_before and rss_before:
        return max(peak_after - rss_before, frame_bytes)
    return max(_rss() - rss_before, frame_bytes)
