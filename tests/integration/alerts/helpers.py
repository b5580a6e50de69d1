"""Batch results and stored history for the alerting and report tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import psycopg

from pgwarden.quality.model import (
    BatchMetadata,
    BatchResult,
    BatchStatus,
    QualityLevel,
    Scores,
    Severity,
    Violation,
)

SCHEMA = "pgwarden"


def result(
    batch_id: str,
    at: datetime,
    *,
    source: str = "user_events",
    records: int = 1000,
    violations: tuple[Violation, ...] = (),
    overall: float = 0.95,
    status: BatchStatus = BatchStatus.ACCEPTED,
    seconds: float = 0.1,
) -> BatchResult:
    scores = Scores(overall, overall, overall, overall, overall, QualityLevel.EXCELLENT)
    return BatchResult(
        batch_id=batch_id,
        source=source,
        received_at=at,
        checked_at=at,
        records=records,
        status=status,
        scores=scores if status is BatchStatus.ACCEPTED else None,
        violations=violations,
        metadata=BatchMetadata("crm", "ingest", expected_records=1000),
        reject_reason=None if status is BatchStatus.ACCEPTED else "broken JSON at byte 10",
        field_stats={"value": {"nulls": 3, "type_mismatch": 0}},
        processing_seconds=seconds,
        records_per_second=records / seconds,
    )


def bad_range(count: int = 50) -> Violation:
    return Violation(
        "value_range", "range", "value", Severity.HIGH, count, ("r1", "r2"), "value < 0"
    )


def store_history(
    conn: psycopg.Connection, source: str, start: datetime, hours: int, records: int = 1000
) -> None:
    """Rows of quality_batches as the checker would have stored them (the fixed contract)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO quality_batches (batch_id, source, received_at, checked_at, records, "
            "status, overall, missing_values, type_mismatches, field_stats) "
            "VALUES (%s, %s, %s, %s, %s, 'ACCEPTED', 0.95, %s, 0, %s)",
            [
                (f"h{i}", source, start + timedelta(hours=i), start + timedelta(hours=i),
                 records + (17 * i) % 41 - 20, 3, json.dumps({"value": {"nulls": 3}}))
                for i in range(hours)
            ],
        )  # fmt: skip
    conn.commit()


def store_row(conn: psycopg.Connection, r: BatchResult) -> BatchResult:
    """Store one result's batch row, as the checker does before calling the hook."""
    conn.execute(
        "INSERT INTO quality_batches (batch_id, source, received_at, checked_at, records, "
        "status, overall, missing_values, type_mismatches, field_stats) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 3, 0, %s)",
        (r.batch_id, r.source, r.received_at, r.checked_at, r.records, str(r.status),
         r.scores.overall if r.scores else None, json.dumps(r.field_stats)),
    )  # fmt: skip
    conn.commit()
    return r
