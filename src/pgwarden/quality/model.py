"""The data shapes the quality feature passes between its layers (the contract).

The checker produces a `BatchResult`; storage writes it; the anomaly
detectors, alerting and the daily report consume it. Fields may be added
(with defaults); existing names and meanings stay, since several modules and
the service read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class QualityLevel(StrEnum):
    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    ACCEPTABLE = "ACCEPTABLE"
    POOR = "POOR"
    CRITICAL = "CRITICAL"


class BatchStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class BatchMetadata:
    source_system: str | None = None
    pipeline_stage: str | None = None
    expected_records: int | None = None
    #: when the data was produced upstream (UTC); freshness = received_at - this
    data_freshness: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    rule: str  # rule name, unique within the source's rules
    kind: str  # required, type, range, allowed, regex, unique, freshness, row_count, ...
    field: str | None
    severity: Severity
    count: int
    sample_ids: tuple[str, ...] = ()  # at most 20
    message: str = ""


@dataclass(frozen=True)
class Scores:
    completeness: float
    consistency: float
    accuracy: float
    timeliness: float
    overall: float
    level: QualityLevel


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    source: str
    received_at: datetime
    checked_at: datetime
    records: int
    status: BatchStatus
    scores: Scores | None  # None when the batch was rejected before scoring
    violations: tuple[Violation, ...]
    metadata: BatchMetadata
    reject_reason: str | None = None
    #: per-field observations for anomaly detection: {"field": {"nulls": n,
    #: "type_mismatch": n, "numeric": {"count", "mean", "std", "min", "max",
    #: "quantiles": [...], "histogram": {"edges": [...], "counts": [...]}}}}
    field_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    processing_seconds: float = 0.0
    records_per_second: float = 0.0
    mb_per_second: float = 0.0
    peak_memory_bytes: int = 0
    input_bytes: int = 0
    # Added by the checker side (engineer A); all optional with defaults:
    #: the score inputs, also stored as columns of quality_batches: records,
    #: required_fields, missing_values, type_mismatches, typed_values,
    #: invalid_records, out_of_range, duplicates, stale_records, timed_records,
    #: violation_count (= number of violations, i.e. rules broken, not records)
    counts: dict[str, int] = field(default_factory=dict)
    #: every rule's count by rule name, zeros included (violations keep count > 0 only)
    rule_counts: dict[str, int] = field(default_factory=dict)
    #: the batch's observed fields {path: dtype}, the input of schema drift
    schema: dict[str, str] = field(default_factory=dict)
    #: the stored version of the rules used (None for Python rules / defaults)
    rules_version: int | None = None
