"""Per-source daily state, merged from each batch so reports never re-read raw data.

One row per (source, day in PGWARDEN_TIMEZONE): sums and extremes that merge
by addition (batches, records, score sum and count, processing seconds, peak
records/s, issues, anomalies, alerts opened) and two small JSON maps that
merge by key (failing records per rule, batches per quality level).
"""

from __future__ import annotations

from datetime import date, tzinfo

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.queries import Queries
from pgwarden.quality.model import BatchResult, BatchStatus


def day_of(result: BatchResult, tz: tzinfo) -> date:
    return result.received_at.astimezone(tz).date()


def merge_params(
    result: BatchResult, tz: tzinfo, *, anomalies: int, alerts_opened: int
) -> dict[str, object]:
    """The additive contribution of one batch (pure)."""
    accepted = result.status is BatchStatus.ACCEPTED
    rules: dict[str, int] = {}
    for v in result.violations:
        if v.count > 0:
            rules[v.rule] = rules.get(v.rule, 0) + int(v.count)
    levels = {str(result.scores.level): 1} if result.scores else {}
    return {
        "source": result.source,
        "day": day_of(result, tz),
        "accepted": int(accepted),
        "rejected": int(not accepted),
        "records": int(result.records),
        "score_sum": result.scores.overall if result.scores else 0.0,
        "scored": 1 if result.scores else 0,
        "score_min": result.scores.overall if result.scores else None,
        "seconds": float(result.processing_seconds or 0.0),
        "rps": float(result.records_per_second or 0.0),
        "issues": sum(1 for v in result.violations if v.count > 0),
        "violations": sum(int(v.count) for v in result.violations),
        "anomalies": anomalies,
        "alerts": alerts_opened,
        "rules": Jsonb(rules),
        "levels": Jsonb(levels),
    }


def merge(
    conn: psycopg.Connection,
    schema: str,
    result: BatchResult,
    tz: tzinfo,
    *,
    anomalies: int = 0,
    alerts_opened: int = 0,
) -> None:
    q = Queries("pgwarden.quality.anomaly", schema)
    conn.execute(
        q["merge_daily"],
        merge_params(result, tz, anomalies=anomalies, alerts_opened=alerts_opened),
    )
