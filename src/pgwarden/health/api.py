"""Small public functions over the runtime, the store and the pure core (CLI, API, demo)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden.health import checks, edge, store
from pgwarden.health import statement_stats as stmts
from pgwarden.health.findings import lock_chains
from pgwarden.health.runtime import runtime_for
from pgwarden.health.snapshot import Snapshot

if TYPE_CHECKING:
    from prometheus_client.core import CollectorRegistry

    from pgwarden.services import Services


def collect(
    services: Services, target: str | None = None, *, force: bool = False
) -> list[Snapshot]:
    """One collection round (stored, rules evaluated) for every target or one."""
    return runtime_for(services).collect(only=target, force=force)


def register_metrics(registry: CollectorRegistry, services: Services) -> None:
    from pgwarden.health.exporter import register

    register(registry, runtime_for(services))


def snapshot_for(services: Services, target: str = store.SELF) -> Snapshot:
    """Every collector run now against one target (not stored): what the CLI shows."""
    rt = runtime_for(services)
    t = rt.targets(target)[0]
    return edge.collect_round(t.name, t.dsn, edge.TargetState(), rt.round_config(), force=True)


def _require_up(snap: Snapshot) -> None:
    if not snap.up:
        from pgwarden.errors import PgwardenError

        raise PgwardenError(f"health target {snap.target} is down: {snap.error}")


def locks(services: Services, target: str = store.SELF) -> dict[str, Any]:
    snap = snapshot_for(services, target)
    _require_up(snap)
    chains = lock_chains(snap.rows("lock_waits"))
    return {
        "target": target,
        "taken_at": snap.taken_at,
        "waits": [c.to_dict() for c in chains],
        "sessions": snap.rows("lock_waits"),
        "locks": [r for r in snap.rows("locks") if r["count"]],
    }


def indexes(services: Services, target: str = store.SELF) -> dict[str, Any]:
    snap = snapshot_for(services, target)
    _require_up(snap)
    found = snap.one("index_findings")
    return {"target": target, "taken_at": snap.taken_at, **found}


def tables(services: Services, target: str = store.SELF, top: int = 20) -> dict[str, Any]:
    snap = snapshot_for(services, target)
    _require_up(snap)
    ents = sorted(
        snap.rows("tables"),
        key=lambda r: float(r.get("table_bytes") or r.get("est_bytes") or 0),
        reverse=True,
    )
    return {
        "target": target,
        "taken_at": snap.taken_at,
        "tables": [
            {
                "table": f"{r['schemaname']}.{r['relname']}",
                "kind": r.get("kind"),
                "partitions": r.get("partitions") or 0,
                "bytes": float(r.get("table_bytes") or r.get("est_bytes") or 0),
                "indexes_bytes": r.get("indexes_bytes"),
                "n_live_tup": r.get("n_live_tup"),
                "n_dead_tup": r.get("n_dead_tup"),
                "last_autovacuum": r.get("last_autovacuum"),
            }
            for r in ents[:top]
        ],
        "vacuum_debt": snap.rows("vacuum_debt"),
        "partitioned": snap.rows("partition_parents"),
        "databases": snap.rows("database_sizes"),
    }


def statements(
    services: Services,
    target: str = store.SELF,
    top: int = 20,
    *,
    period: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Top statements by total time over `period` from stored samples, with regressions
    against the same period a week earlier; cumulative since the reset when fewer than
    two samples exist."""
    now = now or services.clock()  # look-back windows take the services' clock
    db = services.db
    samples = store.statement_samples(db, target, now - period, now)
    before = store.statement_samples(
        db, target, now - period - timedelta(days=7), now - timedelta(days=7)
    )
    if len(samples) >= 2:
        deltas = stmts.accumulate(samples)
        source = f"{len(samples)} samples over {period}"
    else:
        snap = snapshot_for(services, target)
        _require_up(snap)
        if "statements" in snap.missing:
            return {"target": target, "installed": False, "top": [], "regressions": [],
                    "source": "pg_stat_statements is not installed"}  # fmt: skip
        rows = [{**r, "total_exec_ms": r.get("total_exec_time")} for r in snap.rows("statements")]
        deltas = stmts.diff([], rows)
        source = "cumulative since the last reset (fewer than two stored samples)"
    regress = stmts.regressions(deltas, stmts.accumulate(before)) if len(before) >= 2 else []
    return {
        "target": target,
        "installed": True,
        "source": source,
        "top": [d.to_dict() for d in stmts.top_by_time(deltas, top)],
        "regressions": regress,
        "p95_mean_ms": stmts.p95_mean_ms(deltas),
    }


def checklist(services: Services, target: str | None = None) -> dict[str, Any]:
    """The daily checklist for every target (or one), with the exit code it implies."""
    rt = runtime_for(services)
    results = []
    worst = 0
    for t in rt.targets(target):
        snap = edge.collect_round(t.name, t.dsn, edge.TargetState(), rt.round_config(), force=True)
        items = checks.check(snap)
        worst = max(worst, checks.exit_code(items))
        results.append({"target": t.name, "items": [i.to_dict() for i in items]})
    return {"targets": results, "exit_code": worst}


def summary_line(services: Services, *, collect_if_missing: bool = True) -> str:
    """One line for `pgwarden demo`: the newest snapshot of each target (one round first
    when there is none yet)."""
    rt = runtime_for(services)
    snaps = rt.cached()
    if not snaps and collect_if_missing:
        snaps = rt.collect(force=True, alert=False)
    parts = []
    for snap in snaps:
        if not snap.up:
            parts.append(f"{snap.target} DOWN")
            continue
        waits = len(lock_chains(snap.rows("lock_waits")))
        f = snap.one("index_findings")
        hit = next(
            (r for r in snap.rows("database") if r["datname"] == snap.one("server").get("datname")),
            None,
        )
        ratio = ""
        if hit and float(hit["blks_hit"]) + float(hit["blks_read"]) > 0:
            value = float(hit["blks_hit"]) / (float(hit["blks_hit"]) + float(hit["blks_read"]))
            ratio = f", cache hit {value * 100:.1f}%"
        parts.append(
            f"{snap.target} up (PostgreSQL {snap.one('server').get('short_version')}{ratio}, "
            f"{waits} lock wait(s), {len(snap.rows('vacuum_debt'))} table(s) with vacuum debt, "
            f"{f.get('unused_count', 0) if f else 0} unused index(es))"
        )
    return "health:     " + ("; ".join(parts) if parts else "no snapshot yet")
