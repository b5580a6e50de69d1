"""The database edge of alerting: apply a plan, list, acknowledge, resolve, count.

`apply` runs inside the caller's transaction (the quality hook's), so a
batch's alerts, their deliveries and the batch's daily state commit together.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgwarden.alerts import model, outbox
from pgwarden.db.queries import Queries
from pgwarden.errors import NotFound

COLUMNS = (
    "id", "source", "rule", "kind", "severity", "status", "title", "explanation", "batch_id",
    "occurrences", "reopened", "first_seen", "last_seen", "notified_at", "acknowledged_by",
    "acknowledged_at", "resolved_by", "resolved_at",
)  # fmt: skip


def queries(schema: str) -> Queries:
    return Queries("pgwarden.alerts", schema)


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=outbox._dumps)


def apply(
    conn: psycopg.Connection,
    schema: str,
    source: str,
    batch_id: str | None,
    conditions: Sequence[model.Condition],
    now: datetime,
    *,
    channel_list: Sequence[Mapping[str, Any]],
    cooldown: timedelta,
    resolve_after: int,
    only_rules: Collection[str] | None = None,
) -> dict[str, list[int]]:
    """Plan and apply the batch's alerts; returns alert ids by what happened, plus deliveries.

    With `only_rules`, the source's open alerts of other rules are left alone.
    """
    q = queries(schema)
    open_rows = conn.execute(q["open_for_source"], {"source": source}).fetchall()
    opened = [model.OpenAlert(r[0], r[1], r[2], r[3]) for r in open_rows]
    if only_rules is not None:
        opened = [a for a in opened if a.rule in only_rules]
    resolved: dict[str, datetime] = dict(
        conn.execute(q["last_resolved"], {"source": source, "since": now - cooldown}).fetchall()
    )
    actions = model.plan(
        conditions, opened, resolved, now, cooldown=cooldown, resolve_after=resolve_after
    )
    out: dict[str, list[int]] = {
        "opened": [], "updated": [], "reopened": [], "resolved": [], "deliveries": []
    }  # fmt: skip
    for act in actions:
        if act.op in ("open", "update", "reopen"):
            cond = act.condition
            assert cond is not None
            explanation = {**cond.explanation, "severity_rule": act.severity_rule}
            params = {
                "source": source, "rule": act.rule, "kind": cond.kind,
                "severity": act.severity, "title": cond.title,
                "explanation": _json(explanation), "batch_id": batch_id, "now": now,
                "id": act.alert_id,
            }  # fmt: skip
            if act.op == "open":
                row = conn.execute(q["insert_alert"], params).fetchone()
                assert row is not None
                alert_id = int(row[0])
                out["opened"].append(alert_id)
            elif act.op == "update":
                conn.execute(q["update_alert"], params)
                alert_id = int(act.alert_id or 0)
                out["updated"].append(alert_id)
            else:
                row = conn.execute(q["reopen_alert"], params).fetchone()
                if row is None:  # resolved row vanished meanwhile: open a new one
                    row = conn.execute(q["insert_alert"], params).fetchone()
                    assert row is not None
                alert_id = int(row[0])
                out["reopened"].append(alert_id)
        elif act.op == "touch":
            conn.execute(q["touch_alert"], {"id": act.alert_id, "now": now})
            out["updated"].append(int(act.alert_id or 0))
            continue
        elif act.op == "clear":
            conn.execute(q["clear_alert"], {"id": act.alert_id, "streak": act.clear_streak})
            continue
        else:  # resolve
            conn.execute(q["resolve_alert"], {"id": act.alert_id, "now": now, "who": "auto"})
            alert_id = int(act.alert_id or 0)
            out["resolved"].append(alert_id)
        if act.notify:
            alert = get_row(conn, q, alert_id)
            ids = outbox.enqueue(conn, q, alert, act.notify, channel_list, now)
            if ids:
                conn.execute(q["mark_notified"], {"id": alert_id, "now": now})
            out["deliveries"].extend(ids)
    return out


def get_row(conn: psycopg.Connection, q: Queries, alert_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(q["get_alert"], {"id": alert_id}).fetchone()
    if row is None:
        raise NotFound("alert", alert_id)
    return dict(row)


def list_rows(
    conn: psycopg.Connection,
    q: Queries,
    *,
    status: str | None,
    severity: str | None,
    source: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            q["list_alerts"],
            {"status": status, "severity": severity, "source": source, "limit": limit},
        ).fetchall()
    return [dict(r) for r in rows]
