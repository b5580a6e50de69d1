"""What the dashboard pages show, gathered from the features' public functions.

Every panel is fetched on its own: a feature that fails shows its error in
its panel, and the rest of the page still renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgwarden import alerts, models, partitions
from pgwarden.db.queries import Queries
from pgwarden.service.http import plain
from pgwarden.service.ingest import batch_records
from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass
class Panel:
    data: Any = None
    error: str | None = None


def panel(fn: Callable[[], Any]) -> Panel:
    try:
        return Panel(fn())
    except Exception as exc:
        log.warning("dashboard panel failed: %s: %s", type(exc).__name__, exc)
        return Panel(error=f"{type(exc).__name__}: {exc}")


def timeline(services: Services, window: timedelta, bucket_seconds: int) -> dict[str, Any]:
    q = Queries("pgwarden.service", services.db.schema)
    since = services.clock() - window
    with services.db.connection() as conn:
        rows = conn.execute(q["timeline"], {"since": since, "bucket": bucket_seconds}).fetchall()
    quality: dict[str, list[tuple[datetime, float]]] = {}
    records: dict[str, list[tuple[datetime, float]]] = {}
    lag: dict[str, list[tuple[datetime, float]]] = {}
    for source, t, _batches, recs, avg_q, avg_lag in rows:
        records.setdefault(source, []).append((t, float(recs) / bucket_seconds))
        if avg_q is not None:
            quality.setdefault(source, []).append((t, float(avg_q)))
        if avg_lag is not None:
            lag.setdefault(source, []).append((t, float(avg_lag)))
    return {"quality": quality, "records_per_s": records, "lag": lag}


def throughput(services: Services, window: timedelta) -> dict[str, Any]:
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["throughput"], {"since": services.clock() - window}).fetchone()
    records, batches, p50, p95 = row if row else (0, 0, None, None)
    return {
        "records_per_s": float(records) / window.total_seconds(),
        "batches": int(batches),
        "lag_p50": p50,
        "lag_p95": p95,
    }


def source_summary(services: Services, window: timedelta) -> list[dict[str, Any]]:
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        cur = conn.execute(q["source_summary"], {"since": services.clock() - window})
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def recent_batches(services: Services, limit: int = 25) -> list[dict[str, Any]]:
    return batch_records(services, limit=limit)


def open_alerts(services: Services, limit: int = 50) -> list[dict[str, Any]]:
    return plain(alerts.list_alerts(services, status="open", limit=limit))


def alert_counts(services: Services) -> dict[str, int]:
    return dict(alerts.open_alert_counts(services))


def model_list(services: Services) -> Any:
    return plain(models.list_models(services))


def model_graph(services: Services) -> Any:
    """The dependency graph as the next cycle would plan it."""
    return models.graph(services)


def recent_anomalies(services: Services, limit: int = 20) -> list[dict[str, Any]]:
    """Anomaly alerts, newest first, open or already resolved (they resolve within minutes)."""
    rows = alerts.list_alerts(services, limit=500)
    return plain([r for r in rows if r["kind"] == "anomaly"][:limit])


def model_stats(services: Services) -> Any:
    return models.run_stats(services)


def comparisons(services: Services) -> list[Any]:
    out = []
    for m in plain(models.list_models(services)):
        roles = {str(v.get("role")) for v in m.get("versions", []) if v.get("status") == "ACTIVE"}
        if roles & {"SHADOW", "CHALLENGER"}:
            out.append(plain(models.compare(services, m["model_id"], timedelta(days=7))))
    return out


def partition_status(services: Services) -> Any:
    return plain(partitions.status(services))


def partition_plan(services: Services) -> Any:
    return plain(partitions.plan_all(services))
