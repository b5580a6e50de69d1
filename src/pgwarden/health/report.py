"""Daily / weekly health report from stored snapshots and statement samples.

`series()` (connections, cache hit, TPS, lock waits over time) also feeds the
dashboard's database page. Growth compares the first and the last snapshot
of the period; the findings come from the last one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden.health import api, store
from pgwarden.health.findings import lock_chains
from pgwarden.health.rollup import table_size
from pgwarden.jsonable import jsonable

if TYPE_CHECKING:
    from pgwarden.services import Services

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def series(
    services: Services, target: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per stored snapshot: connections, cache hit ratio and TPS since the previous one, waits."""
    rows = store.summaries(services.db, target, since, until)
    out: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for r in rows:
        point: dict[str, Any] = {"t": r["taken_at"], "up": r["up"]}
        sess = r["sessions"] or {}
        point["connections"] = sess.get("client_backends")
        waits = [w for w in (r["lock_waits"] or []) if w.get("blockers")]
        point["lock_waits"] = len(waits)
        point["lock_wait_max_seconds"] = max((w["wait_seconds"] for w in waits), default=0.0)
        db = next((d for d in (r["databases"] or []) if d["datname"] == r["datname"]), None)
        point["cache_hit"] = point["tps"] = None
        if db is not None and prev is not None and prev["db"] is not None:
            p = prev["db"]
            dt = (r["taken_at"] - prev["t"]).total_seconds()
            hit, read = db["blks_hit"] - p["blks_hit"], db["blks_read"] - p["blks_read"]
            xacts = (db["xact_commit"] + db["xact_rollback"]) - (
                p["xact_commit"] + p["xact_rollback"]
            )
            if hit >= 0 and read >= 0 and hit + read > 0:
                point["cache_hit"] = hit / (hit + read)
            if xacts >= 0 and dt > 0:
                point["tps"] = xacts / dt
        out.append(point)
        prev = {"t": r["taken_at"], "db": db}
    return out


def _growth(first: Any, last: Any) -> list[dict[str, Any]]:
    before = {f"{t['schemaname']}.{t['relname']}": table_size(t) for t in first.rows("tables")}
    rows = []
    for t in last.rows("tables"):
        name = f"{t['schemaname']}.{t['relname']}"
        now_bytes = table_size(t)
        rows.append({"table": name, "kind": t.get("kind"), "bytes": now_bytes,
                     "growth_bytes": now_bytes - before.get(name, now_bytes),
                     "indexes_bytes": t.get("indexes_bytes")})  # fmt: skip
    rows.sort(key=lambda r: (r["growth_bytes"], r["bytes"]), reverse=True)
    return rows[:20]


def build(
    services: Services,
    target: str = store.SELF,
    period: timedelta = PERIODS["daily"],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report as plain data (JSON-able after `to_json`)."""
    from pgwarden import alerts

    now = now or services.clock()
    since = now - period
    snaps = store.snapshots(services.db, target, since, now) if period <= PERIODS["daily"] else []
    if not snaps:
        # a week of full snapshots is large: the first and the last are enough here
        head = store.snapshots(services.db, target, since, since + timedelta(hours=1))
        tail = store.snapshots(services.db, target, now - timedelta(hours=1), now)
        snaps = head[:1] + tail[-1:]
    up_snaps = [s for s in snaps if s.up]
    points = series(services, target, since, now)
    stmts = api.statements(services, target, 20, period=period, now=now) if up_snaps else {}
    history = alerts.list_alerts(services, source=f"health:{target}", limit=100)
    data: dict[str, Any] = {
        "target": target,
        "period": {"from": since, "to": now, "days": period.days},
        "snapshots": len(snaps),
        "series": points,
        "lock_waits_seen": [p for p in points if p["lock_waits"]][-50:],
        "alerts": [
            {
                k: a.get(k)
                for k in (
                    "id",
                    "rule",
                    "severity",
                    "status",
                    "title",
                    "first_seen",
                    "last_seen",
                    "resolved_at",
                )
            }
            for a in history
        ],  # fmt: skip
        "statements": {k: stmts.get(k) for k in ("source", "top", "regressions", "p95_mean_ms")},
        "growth": [],
        "vacuum_debt": [],
        "unused_indexes": [],
        "bloated_indexes": [],
        "invalid_indexes": [],
        "duplicate_indexes": [],
        "actions": [],
    }
    if up_snaps:
        first, last = up_snaps[0], up_snaps[-1]
        data["growth"] = _growth(first, last)
        data["database_sizes"] = last.rows("database_sizes")
        data["vacuum_debt"] = last.rows("vacuum_debt")
        f = last.one("index_findings")
        for kind in ("unused", "bloated", "invalid", "duplicate"):
            data[f"{kind}_indexes"] = f.get(kind) or []
        data["lock_waits_now"] = [w.to_dict() for w in lock_chains(last.rows("lock_waits"))]
        actions = [d["fix"] for d in data["vacuum_debt"][:10]]
        actions += [i["fix"] for i in data["invalid_indexes"] if i.get("fix")]
        actions += [i["fix"] for i in data["bloated_indexes"][:10] if i.get("fix")]
        actions += [i["fix"] for i in data["unused_indexes"][:10] if i.get("fix")]
        actions += [i["fix"] for i in data["duplicate_indexes"][:10] if i.get("fix")]
        data["actions"] = list(dict.fromkeys(actions))
    return data


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(jsonable(data), indent=2) + "\n"


def to_html(data: dict[str, Any]) -> str:
    from pgwarden.health.report_html import render

    return render(jsonable(data))
