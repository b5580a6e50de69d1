"""The database edge of batch results: store, read back, list; seen ids; learned schemas.

Storing is idempotent on batch id: `process_batch` takes an advisory lock on
the id and looks it up before inserting, and the insert itself is
`ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.queries import Queries
from pgwarden.quality.batch import metadata_from_json, metadata_to_json
from pgwarden.quality.model import (
    BatchResult,
    BatchStatus,
    QualityLevel,
    Scores,
    Severity,
    Violation,
)
from pgwarden.quality.rules import RuleSet
from pgwarden.services import Services

_INT_MAX = 2**31 - 1


def queries(schema: str) -> Queries:
    return Queries("pgwarden.quality", schema)


def _int(value: int | None) -> int | None:
    return None if value is None else min(int(value), _INT_MAX)


def batch_params(result: BatchResult) -> dict[str, Any]:
    s = result.scores
    c = result.counts
    return {
        "batch_id": result.batch_id,
        "source": result.source,
        "received_at": result.received_at,
        "checked_at": result.checked_at,
        "records": _int(result.records),
        "expected_records": _int(result.metadata.expected_records),
        "status": str(result.status),
        "reject_reason": result.reject_reason,
        "completeness": s.completeness if s else None,
        "consistency": s.consistency if s else None,
        "accuracy": s.accuracy if s else None,
        "timeliness": s.timeliness if s else None,
        "overall": s.overall if s else None,
        "level": str(s.level) if s else None,
        "violation_count": len(result.violations),
        "missing_values": _int(c.get("missing_values", 0)),
        "type_mismatches": _int(c.get("type_mismatches", 0)),
        "out_of_range": _int(c.get("out_of_range", 0)),
        "duplicates": _int(c.get("duplicates", 0)),
        "stale_records": _int(c.get("stale_records", 0)),
        "metadata": Jsonb(metadata_to_json(result.metadata)),
        "field_stats": Jsonb(result.field_stats),
        "processing_seconds": result.processing_seconds,
        "records_per_second": result.records_per_second,
        "mb_per_second": result.mb_per_second,
        "peak_memory_bytes": result.peak_memory_bytes,
        "input_bytes": result.input_bytes,
        "counts": Jsonb(c),
        "rules_version": result.rules_version,
    }


def insert_result(conn: psycopg.Connection, q: Queries, result: BatchResult) -> bool:
    """Insert the batch row and its violations; False if the batch row already existed."""
    row = conn.execute(q["insert_batch"], batch_params(result)).fetchone()
    if row is None:
        return False
    if result.violations:
        with conn.cursor() as cur:
            cur.executemany(
                q["insert_violation"],
                [
                    {
                        "batch_id": result.batch_id,
                        "received_at": result.received_at,
                        "source": result.source,
                        "rule": v.rule,
                        "kind": v.kind,
                        "field": v.field,
                        "severity": str(v.severity),
                        "count": _int(v.count),
                        "sample_ids": list(v.sample_ids),
                        "message": v.message,
                    }
                    for v in result.violations
                ],
            )
    return True


def result_from_row(row: Sequence[Any], violations: Sequence[Violation] = ()) -> BatchResult:
    (
        batch_id,
        source,
        received_at,
        checked_at,
        records,
        status,
        reject_reason,
        completeness,
        consistency,
        accuracy,
        timeliness,
        overall,
        level,
        metadata,
        field_stats,
        processing_seconds,
        records_per_second,
        mb_per_second,
        peak_memory_bytes,
        input_bytes,
        counts,
        rules_version,
    ) = row
    scores = None
    if overall is not None:
        scores = Scores(
            completeness=completeness,
            consistency=consistency,
            accuracy=accuracy,
            timeliness=timeliness,
            overall=overall,
            level=QualityLevel(level),
        )
    return BatchResult(
        batch_id=batch_id,
        source=source,
        received_at=received_at,
        checked_at=checked_at,
        records=records,
        status=BatchStatus(status),
        scores=scores,
        violations=tuple(violations),
        metadata=metadata_from_json(metadata or {}),
        reject_reason=reject_reason,
        field_stats=field_stats or {},
        processing_seconds=processing_seconds or 0.0,
        records_per_second=records_per_second or 0.0,
        mb_per_second=mb_per_second or 0.0,
        peak_memory_bytes=peak_memory_bytes or 0,
        input_bytes=input_bytes or 0,
        counts=counts or {},
        rules_version=rules_version,
    )


def read_batch_result(conn: psycopg.Connection, q: Queries, batch_id: str) -> BatchResult | None:
    row = conn.execute(q["get_batch"], {"batch_id": batch_id}).fetchone()
    if row is None:
        return None
    vrows = conn.execute(
        q["batch_violations"], {"batch_id": batch_id, "received_at": row[2]}
    ).fetchall()
    violations = [
        Violation(
            rule=r[0],
            kind=r[1],
            field=r[2],
            severity=Severity(r[3]),
            count=r[4],
            sample_ids=tuple(r[5] or ()),
            message=r[6],
        )
        for r in vrows
    ]
    return result_from_row(row, violations)


def get_batch(services: Services, batch_id: str) -> BatchResult | None:
    """A stored batch with its violations; None when no batch has this id."""
    with services.db.connection() as conn:
        return read_batch_result(conn, queries(services.db.schema), batch_id)


def list_batches(
    services: Services,
    source: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[BatchResult]:
    """Stored batches, newest first (violations not loaded: see get_batch)."""
    if status is not None:
        status = str(BatchStatus(status.upper()))
    with services.db.connection() as conn:
        rows = conn.execute(
            queries(services.db.schema)["list_batches"],
            {"source": source, "status": status, "since": since, "limit": max(1, int(limit))},
        ).fetchall()
    return [result_from_row(r) for r in rows]


# -- cross-batch uniqueness --------------------------------------------------


def seen_before(
    conn: psycopg.Connection,
    q: Queries,
    rules: RuleSet,
    values: dict[str, list[str]],
    received_at: datetime,
    retention_hours: float,
) -> dict[str, list[str]]:
    """Per cross-batch unique rule: the values of this batch already seen in its window.

    Exact: candidates are found by a 64-bit hash index and confirmed by comparing
    the id text. The window is the rule's last N batches or hours, capped at the
    retention of quality_seen_ids.
    """
    out: dict[str, list[str]] = {}
    oldest = received_at - timedelta(hours=retention_hours)
    for rule in rules.rules:
        if not rule.cross_batch or rule.name not in values:
            continue
        ids = values[rule.name]
        if rule.window_batches is not None:
            batches = [
                r[0]
                for r in conn.execute(
                    q["recent_batch_ids"], {"source": rules.source, "n": rule.window_batches}
                ).fetchall()
            ]
            if not batches:
                out[rule.name] = []
                continue
            rows = conn.execute(
                q["seen_in_batches"], {"source": rules.source, "ids": ids, "batches": batches}
            ).fetchall()
        else:
            since = max(received_at - timedelta(hours=rule.window_hours or 0), oldest)
            rows = conn.execute(
                q["seen_since"], {"source": rules.source, "ids": ids, "since": since}
            ).fetchall()
        out[rule.name] = [r[0] for r in rows]
    return out


def remember_ids(
    conn: psycopg.Connection,
    schema: str,
    source: str,
    batch_id: str,
    received_at: datetime,
    ids: Sequence[str],
    retention_hours: float,
) -> None:
    """Keep this batch's ids for later windows (COPY), and forget ids past the retention."""
    from psycopg import sql

    stmt = sql.SQL("COPY {} (source, id, batch_id, received_at) FROM STDIN").format(
        sql.Identifier(schema, "quality_seen_ids")
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for value in dict.fromkeys(ids):
            copy.write_row((source, value, batch_id, received_at))
    conn.execute(
        queries(schema)["prune_seen"],
        {"source": source, "before": received_at - timedelta(hours=retention_hours)},
    )


def learned_schema(conn: psycopg.Connection, q: Queries, source: str) -> dict[str, str] | None:
    row = conn.execute(q["get_schema"], {"source": source}).fetchone()
    return None if row is None else dict(row[0])


def learn_schema(conn: psycopg.Connection, q: Queries, result: BatchResult) -> None:
    if result.schema:
        conn.execute(
            q["upsert_schema"],
            {"source": result.source, "fields": Jsonb(result.schema), "batch_id": result.batch_id},
        )
