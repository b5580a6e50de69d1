"""What the dashboard's database page shows, from pgwarden.health's cache and store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgwarden.services import Services


def series(services: Services, target: str, window: timedelta) -> list[dict[str, Any]]:
    """Connections, cache hit ratio, TPS and lock waits per stored snapshot in the window."""
    from pgwarden.health import report

    now = services.clock()
    return report.series(services, target, now - window, now)


def latest(services: Services, target: str, window: timedelta) -> dict[str, Any]:
    """Lock waits now, top statements, biggest tables with their growth, unused indexes."""
    from pgwarden.health import runtime_for, store
    from pgwarden.health.findings import lock_chains
    from pgwarden.health.rollup import table_size

    rt = runtime_for(services)
    targets = [t.name for t in rt.targets()]
    snap = next((s for s in rt.cached() if s.target == target), None)
    if snap is None:
        return {"collected": False, "targets": targets}
    if not snap.up:
        return {"collected": True, "up": False, "error": snap.error, "taken_at": snap.taken_at,
                "targets": targets}  # fmt: skip
    now = services.clock()
    first = store.snapshots(services.db, target, now - window, now - window + timedelta(hours=1))
    before = (
        {f"{t['schemaname']}.{t['relname']}": table_size(t) for t in first[0].rows("tables")}
        if first
        else {}
    )
    tables = sorted(snap.rows("tables"), key=table_size, reverse=True)[:15]
    statements = sorted(
        snap.rows("statements"), key=lambda r: float(r.get("total_exec_time") or 0), reverse=True
    )[:10]
    found = snap.one("index_findings")
    return {
        "collected": True,
        "up": True,
        "targets": targets,
        "errors": [r.error for r in snap.results.values() if r.error],
        "taken_at": snap.taken_at,
        "version": snap.one("server").get("short_version"),
        "waits": [w.to_dict() for w in lock_chains(snap.rows("lock_waits"))],
        "statements": [
            {
                "query": " ".join(str(r.get("query") or "").split())[:120],
                "calls": r["calls"],
                "total_ms": r["total_exec_time"],
                "mean_ms": r["total_exec_time"] / r["calls"] if r["calls"] else 0.0,
            }
            for r in statements
        ],  # fmt: skip
        "tables": [
            {
                "table": f"{t['schemaname']}.{t['relname']}",
                "kind": t.get("kind"),
                "partitions": t.get("partitions") or 0,
                "bytes": table_size(t),
                "growth": table_size(t)
                - before.get(f"{t['schemaname']}.{t['relname']}", table_size(t)),
                "dead": t.get("n_dead_tup"),
            }
            for t in tables
        ],  # fmt: skip
        "unused": (found.get("unused") or [])[:15] if found else [],
        "missing": snap.missing,
    }
