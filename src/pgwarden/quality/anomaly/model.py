"""The plain data the anomaly detectors take and return (no I/O, no clock).

A `BatchPoint` is one stored batch as the detectors see it: counts, when it
arrived, its per-field summaries, and which metrics were already flagged for
it (those points are left out of later baselines, so one incident does not
widen the range that should catch the next). A `TestResult` is one metric of
one batch: observed value, expected value and range, the window the baseline
came from, the method, the tail probability and, after the multiple-testing
step, whether it is an anomaly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from pgwarden.quality.anomaly.histo import Summary, summary_of


class Status(StrEnum):
    TESTED = "tested"
    INSUFFICIENT_HISTORY = "insufficient_history"
    INSUFFICIENT_SAMPLE = "insufficient_sample"


#: the seed's six patterns, as metric names stored with each anomaly
VOLUME = "volume"
MISSING = "missing_rate"
FORMAT = "format_rate"
TIMING = "arrival_gap"
DRIFT = "drift"
OUTLIERS = "outliers"
METRICS = (VOLUME, MISSING, FORMAT, TIMING, DRIFT, OUTLIERS)


@dataclass(frozen=True)
class BatchPoint:
    batch_id: str
    received_at: datetime  # timezone-aware
    records: int
    accepted: bool = True
    missing_values: int = 0
    type_mismatches: int = 0
    #: values checked per record (the denominator of the missing and format rates)
    fields: int = 1
    field_stats: Mapping[str, Any] = field(default_factory=dict)
    #: metric keys ("volume", "drift:value", ...) flagged as anomalies earlier
    flagged: frozenset[str] = frozenset()

    def summary(self, name: str) -> Summary | None:
        """Field `name`'s distribution summary, parsed once per point: an evaluation reads
        each reference batch's summaries several times (drift's three references, the
        outliers' one, the field list), and parsing was the largest share of its time."""
        cache = self._summaries
        if name not in cache:
            cache[name] = summary_of(self.field_stats.get(name))
        return cache[name]

    @cached_property
    def _summaries(self) -> dict[str, Summary | None]:
        return {}

    def field_counts(self, key: str) -> Mapping[str, float]:
        """{field: its count under `key` ("nulls", "type_mismatch")} for the fields whose
        stats hold one, read once per point: the rate detectors read every reference
        point's counts for each field on every evaluation (points are kept between
        evaluations), and reading them was a millisecond of a 5-field batch's."""
        cache = self._field_counts
        got = cache.get(key)
        if got is None:
            got = cache[key] = _counts_of(self.field_stats, key)
        return got

    @cached_property
    def _field_counts(self) -> dict[str, Mapping[str, float]]:
        return {}


def _counts_of(field_stats: Mapping[str, Any], key: str) -> dict[str, float]:
    """Each field's `key` count, never below zero; a field without one (or with one that
    is not a number) is left out."""
    out = {}
    for name, st in field_stats.items():
        if not isinstance(st, Mapping) or key not in st:
            continue
        try:
            out[name] = max(0.0, float(st[key] or 0))
        except (TypeError, ValueError):
            continue
    return out


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "points": self.points,
        }


@dataclass(frozen=True)
class TestResult:
    metric: str
    field: str | None
    status: Status
    method: str
    window: Window
    observed: float | None = None
    expected: float | None = None
    low: float | None = None  # expected range at the per-test level
    high: float | None = None
    direction: str | None = None  # "high" or "low"
    p_value: float = 1.0  # tail probability under the baseline
    effect: float | None = None  # PSI, rate excess, ... (the effect-size gate)
    gated: bool = False  # below the effect-size gate: never an anomaly
    weight: float = 1.0  # share of the false-alert budget (weighted BH)
    #: the effect on the scale the severity is graded on (|z| of a count, a rate's
    #: multiple of its baseline, PSI, a gap's multiple of the usual one)
    strength: float | None = None
    severity: str | None = None  # medium | high | critical, set on anomalies
    q_value: float = 1.0
    anomaly: bool = False
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.metric if self.field is None else f"{self.metric}:{self.field}"

    @property
    def score(self) -> float:
        """1 - tail probability: 0 ordinary, close to 1 very unlikely under the baseline."""
        return 1.0 - self.p_value if self.status is Status.TESTED else 0.0

    def decided(self, anomaly: bool, q_value: float, severity: str | None = None) -> TestResult:
        return replace(self, anomaly=anomaly, q_value=q_value, severity=severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "field": self.field,
            "status": str(self.status),
            "method": self.method,
            "window": self.window.to_dict(),
            "observed": self.observed,
            "expected": self.expected,
            "expected_range": [self.low, self.high],
            "direction": self.direction,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "score": self.score,
            "effect": self.effect,
            "anomaly": self.anomaly,
            "severity": self.severity,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Evaluation:
    """Every test of one batch and which of them are anomalies."""

    batch_id: str
    results: tuple[TestResult, ...]
    fdr: float

    @property
    def anomalies(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if r.anomaly)

    @property
    def insufficient(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if r.status is not Status.TESTED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "fdr": self.fdr,
            "results": [r.to_dict() for r in self.results],
        }
