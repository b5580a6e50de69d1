"""The database edge of batch results: store, read back, list; seen ids; learned schemas.

Storing is idempotent on batch id and costs two round trips: `look_up` asks,
pipelined, whether the id is stored, which of its ids were seen in their
windows and what schema the source had; `write_result` then writes the batch
row, its violations, its ids and its learned schema as one statement under an
advisory lock on the id, and writes nothing when the id was stored meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.arrays import TextArray
from pgwarden.db.pool import autocommit
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
        # the anomaly history's trials per record, without reading the jsonb back
        "field_count": len(result.field_stats) if isinstance(result.field_stats, dict) else None,
        "processing_seconds": result.processing_seconds,
        "records_per_second": result.records_per_second,
        "mb_per_second": result.mb_per_second,
        "peak_memory_bytes": result.peak_memory_bytes,
        "input_bytes": result.input_bytes,
        "counts": Jsonb(c),
        "rules_version": result.rules_version,
    }


def write_result(
    conn: psycopg.Connection,
    q: Queries,
    result: BatchResult,
    ids: Sequence[str],
    retention_hours: float,
    *,
    synchronous: bool = True,
) -> bool:
    """Store a checked batch in one transaction and one round trip; False if already stored.

    `ids` are the batch's values of its cross-batch unique rules, kept for
    later windows (only an accepted batch's are kept, and its schema learned);
    ids past the retention are forgotten on the way. `synchronous=False`: the
    commit need not wait for the WAL flush (the caller's later commit does).
    """
    accepted = result.status == BatchStatus.ACCEPTED
    params = batch_params(result)
    params["violations"] = Jsonb(
        [
            {
                "rule": v.rule,
                "kind": v.kind,
                "field": v.field,
                "severity": str(v.severity),
                "count": _int(v.count),
                "sample_ids": list(v.sample_ids),
                "message": v.message,
            }
            for v in result.violations
        ]
    )
    params["ids"] = TextArray(list(dict.fromkeys(ids)) if accepted else [])
    params["fields"] = Jsonb(result.schema) if accepted and result.schema else None
    with conn.pipeline(), conn.transaction():
        if not synchronous:
            conn.execute(q["async_commit_local"])
        conn.execute(q["lock_batch"], {"batch_id": result.batch_id})
        cur = conn.execute(q["store_result"], params)
        if accepted and ids:
            conn.execute(
                q["prune_seen"],
                {
                    "source": result.source,
                    "before": result.received_at - timedelta(hours=retention_hours),
                },
            )
    return cur.fetchone() is not None


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
    return None if row is None else _read_violations(conn, q, row)


def _read_violations(conn: psycopg.Connection, q: Queries, row: Sequence[Any]) -> BatchResult:
    """The stored batch of a `get_batch` row, its violations read."""
    vrows = conn.execute(
        q["batch_violations"], {"batch_id": row[0], "received_at": row[2]}
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


# -- before the check -----------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """What checking a batch needs from the database, read in one round trip."""

    #: the batch as stored already (a retried job), else None
    stored: BatchResult | None
    #: per cross-batch unique rule: this batch's values already seen in its window
    seen: dict[str, list[str]]
    #: the source's learned schema, None before its first accepted batch
    learned: dict[str, str] | None


def look_up(
    conn: psycopg.Connection,
    q: Queries,
    batch_id: str,
    rules: RuleSet,
    values: dict[str, list[str]],
    received_at: datetime,
    retention_hours: float,
) -> Lookup:
    """Whether the batch is stored, the ids seen in their windows, the learned schema.

    The statements are pipelined: one round trip (two for a stored batch with
    violations). Ids are exact: candidates are found by a 64-bit hash index and
    confirmed by the id text. A rule's window is its last N accepted batches or
    hours, capped at the retention of quality_seen_ids.
    """
    oldest = received_at - timedelta(hours=retention_hours)
    with autocommit(conn), conn.pipeline():
        stored = conn.execute(q["get_batch"], {"batch_id": batch_id})
        lookups = {}
        for rule in rules.rules:
            if not rule.cross_batch or rule.name not in values:
                continue
            ids = values[rule.name]
            if rule.window_batches is not None:
                lookups[rule.name] = conn.execute(
                    q["seen_in_batches"],
                    {"source": rules.source, "ids": TextArray(ids), "n": rule.window_batches},
                )
            else:
                since = max(received_at - timedelta(hours=rule.window_hours or 0), oldest)
                lookups[rule.name] = conn.execute(
                    q["seen_since"],
                    {"source": rules.source, "ids": TextArray(ids), "since": since},
                )
        schema = conn.execute(q["get_schema"], {"source": rules.source})
        row = stored.fetchone()
        learned = schema.fetchone()
        seen = {name: [r[0] for r in cur.fetchall()] for name, cur in lookups.items()}
    return Lookup(
        stored=None if row is None else _read_violations(conn, q, row),
        seen=seen,
        learned=None if learned is None else dict(learned[0]),
    )
