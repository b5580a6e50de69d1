"""Seed 004's performance thresholds as alert conditions.

Every batch stores its processing time and peak memory; here they are held
against `quality.processing_time_max` (seconds, seed 30), and
`quality.memory_usage_max` (MB, seed 512), and the source's error rate, the
share of rejected batches among its last `quality.error_rate_window`
batches (this one included), against `quality.error_rate_max` (seed 5 %).
A threshold crossed is one condition (rule `performance:<metric>`), raised
through the same alert pipeline as rule violations: deduplicated while it
lasts, resolved automatically once batches are back under the limit.
Severity: medium, high when the value is twice the limit or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from pgwarden.alerts import Condition
from pgwarden.db.queries import Queries
from pgwarden.quality.model import BatchResult

MB = 1_048_576  # bytes
#: batches the error-rate window must hold before the rate is judged (one
#: rejected batch out of two is not yet a rate)
MIN_ERROR_WINDOW = 5


@dataclass(frozen=True)
class PerformanceLimits:
    processing_seconds: float = 30.0
    memory_mb: float = 512.0
    error_rate: float = 0.05
    error_window: int = 20  # batches


def limits_from(config: Any) -> PerformanceLimits:
    """The limits from a RuntimeConfig (anything with `.get(key)`), or seed 004's."""
    if config is None or not hasattr(config, "get"):
        return PerformanceLimits()
    get = config.get
    return PerformanceLimits(
        processing_seconds=float(get("quality.processing_time_max")),
        memory_mb=float(get("quality.memory_usage_max")),
        error_rate=float(get("quality.error_rate_max")),
        error_window=int(get("quality.error_rate_window")),
    )


def error_rate(rejected: Sequence[bool], limits: PerformanceLimits) -> float | None:
    """Share of rejected batches in the window (newest first), None while it is too short."""
    window = list(rejected[: limits.error_window])
    if len(window) < min(MIN_ERROR_WINDOW, limits.error_window):
        return None
    return sum(window) / len(window)


def _condition(
    result: BatchResult,
    metric: str,
    title: str,
    observed: float,
    limit: float,
    unit: str,
    advice: str,
) -> Condition:
    return Condition(
        rule=f"performance:{metric}",
        kind="issue",
        title=f"{result.source}: {title} {observed:,.2f} {unit} over the limit {limit:,.2f}",
        issue_severity="high" if observed >= 2 * limit else "medium",
        explanation={
            "metric": metric,
            "observed": observed,
            "expected": limit,
            "expected_range": [0, limit],
            "unit": unit,
            "window": {"batch": result.batch_id},
            "method": f"threshold: {metric} > {limit:g} {unit} (seed 004); high at twice the limit",
            "score": observed / limit if limit else None,
            "top_fields": [],
            "sample_ids": [],
            "batch": {
                "batch_id": result.batch_id,
                "source": result.source,
                "records": result.records,
            },  # fmt: skip
            "recommendation": advice,
        },
    )


def performance_conditions(
    result: BatchResult, limits: PerformanceLimits, rate: float | None = None
) -> list[Condition]:
    """One condition per threshold the batch crosses; `rate` from `error_rate`."""
    out: list[Condition] = []
    seconds = float(result.processing_seconds or 0.0)
    if seconds > limits.processing_seconds:
        out.append(
            _condition(
                result,
                "processing_time",
                "processing time",
                seconds,
                limits.processing_seconds,
                "s",
                f"{result.records:,} records took {seconds:.1f} s: split the batches, or raise "
                "quality.processing_time_max if this size is expected.",
            )  # fmt: skip
        )
    memory = (result.peak_memory_bytes or 0) / MB
    if memory > limits.memory_mb:
        out.append(
            _condition(
                result,
                "memory_usage",
                "peak memory",
                memory,
                limits.memory_mb,
                "MB",
                f"checking {result.records:,} records needed {memory:.0f} MB: send smaller "
                "batches, or raise quality.memory_usage_max if the worker has room.",
            )  # fmt: skip
        )
    if rate is not None and rate > limits.error_rate:
        out.append(
            _condition(
                result,
                "error_rate",
                "rejected-batch rate",
                100 * rate,
                100 * limits.error_rate,
                "%",
                f"{100 * rate:.1f}% of the last {limits.error_window} batches of "
                f"{result.source} were rejected: read their reasons with "
                f"`pgwarden batches list --source {result.source}`.",
            )  # fmt: skip
        )
    return out


# -- database edge ------------------------------------------------------------------------


def batch_conditions(
    conn: psycopg.Connection, schema: str, result: BatchResult, config: Any
) -> list[Condition]:
    """The stored batch's performance conditions, its source's error rate read from the store."""
    limits = limits_from(config)
    rows = conn.execute(
        Queries("pgwarden.quality", schema)["recent_rejections"],
        {"source": result.source, "until": result.received_at, "n": limits.error_window},
    ).fetchall()
    return performance_conditions(result, limits, error_rate([bool(r[0]) for r in rows], limits))
