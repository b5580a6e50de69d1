"""The thin database edge of anomaly detection: read a source's history, store results.

History comes from `quality_batches` (the checker's table) and the flags
from `quality_anomalies`; nothing else is read, so the detectors see exactly
what a later reader can audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.queries import Queries
from pgwarden.quality.anomaly.model import BatchPoint, Evaluation


def queries(schema: str) -> Queries:
    return Queries("pgwarden.quality.anomaly", schema)


def read_history(
    conn: psycopg.Connection,
    schema: str,
    source: str,
    batch_id: str,
    until: datetime,
    *,
    days: int,
    reference_batches: int,
) -> list[BatchPoint]:
    """The source's batches of the last `days` before `until` (the batch itself excluded).

    Field summaries are attached only to the latest `reference_batches`
    accepted batches: the drift reference needs no more, and jsonb is the
    costly part of the read.
    """
    q = queries(schema)
    since = until - timedelta(days=days)
    params = {"source": source, "batch_id": batch_id, "since": since, "until": until}
    rows = conn.execute(q["history_points"], params).fetchall()
    stats: Mapping[str, Any] = dict(
        conn.execute(q["history_stats"], {**params, "limit": reference_batches}).fetchall()
    )
    return [
        BatchPoint(
            batch_id=r[0],
            received_at=r[1],
            records=int(r[2]),
            accepted=r[3] == "ACCEPTED",
            missing_values=int(r[4] or 0),
            type_mismatches=int(r[5] or 0),
            fields=max(1, int(r[6] or 0)),
            field_stats=stats.get(r[0]) or {},
            flagged=frozenset(r[7] or ()),
        )
        for r in rows
    ]


def store_evaluation(
    conn: psycopg.Connection, schema: str, source: str, received_at: datetime, ev: Evaluation
) -> None:
    q = queries(schema)
    for r in ev.anomalies:
        conn.execute(
            q["insert_anomaly"],
            {
                "batch_id": ev.batch_id, "source": source, "received_at": received_at,
                "metric": r.metric, "field": r.field, "observed": r.observed,
                "expected": r.expected, "low": r.low, "high": r.high,
                "direction": r.direction, "p_value": r.p_value, "q_value": r.q_value,
                "score": min(1.0, max(0.0, r.score)), "method": r.method,
                "details": Jsonb({**r.to_dict()["details"], "window": r.window.to_dict(),
                                  "effect": r.effect}),
            },
        )  # fmt: skip
    summary = {
        r.key: {"status": str(r.status), "p_value": r.p_value, "anomaly": r.anomaly}
        for r in ev.results
    }
    conn.execute(
        q["finish_evaluation"],
        {
            "batch_id": ev.batch_id,
            "tested": sum(1 for r in ev.results if r.status == "tested"),
            "insufficient": len(ev.insufficient),
            "anomalies": len(ev.anomalies),
            "summary": Jsonb(summary),
        },
    )
