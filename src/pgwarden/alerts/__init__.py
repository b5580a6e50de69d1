"""Alerts: explainable, deduplicated, delivered through an outbox that never drops one.

Public functions (the service, CLI and the quality hook call these):

- `list_alerts(services, status=None, severity=None, source=None, limit=100)`
- `acknowledge(services, alert_id, who)` / `resolve(services, alert_id, who)`
- `deliver_pending(services, now=None) -> int` (deliveries sent; the periodic task)
- `deliver_now(services, ids, now=None) -> int` (just-queued deliveries, tried once
  after their transaction committed, when `alerts.deliver_inline`)
- `open_alert_counts(services) -> {severity: n}`
- `test_channel(services, name, now=None)` (queue and send one test message)
- `settings_from(config)` and `raise_alerts(conn, schema, ...)` for the quality hook.
- `SEVERITY_ORDER` ({"low": 0, ..., "critical": 3}) and `at_least(severity, minimum)`:
  the one severity order, for quality issues, alerts and the pipeline alike.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from pgwarden.alerts import outbox, store
from pgwarden.alerts.model import ALERT_SEVERITIES, SEVERITY_ORDER, Condition, at_least, severity
from pgwarden.errors import InputInvalid, NotFound

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

STATUSES = ("open", "acknowledged", "resolved")

__all__ = [
    "ALERT_SEVERITIES",
    "SEVERITY_ORDER",
    "AlertSettings",
    "Condition",
    "acknowledge",
    "at_least",
    "deliver_now",
    "deliver_pending",
    "list_alerts",
    "list_deliveries",
    "open_alert_counts",
    "raise_alerts",
    "resolve",
    "settings_from",
    "severity",
    "test_channel",
]


@dataclass(frozen=True)
class AlertSettings:
    channels: tuple[Mapping[str, Any], ...] = ({"name": "log", "type": "log"},)
    cooldown: timedelta = timedelta(minutes=60)
    resolve_after: int = 2
    min_issue_severity: str = "high"
    min_quality_score: float = 0.7
    deliver_inline: bool = True
    retry_base: float = 30.0
    retry_max: float = 3600.0
    timeout: float = 5.0


def settings_from(config: Any) -> AlertSettings:
    """AlertSettings from a RuntimeConfig (anything with `.get(key)`), or the defaults."""
    if config is None or not hasattr(config, "get"):
        return AlertSettings()
    get = config.get
    return AlertSettings(
        channels=tuple(get("alerts.channels")),
        cooldown=timedelta(minutes=get("alerts.cooldown_minutes")),
        resolve_after=get("alerts.resolve_after"),
        min_issue_severity=get("alerts.min_issue_severity"),
        min_quality_score=get("alerts.min_quality_score"),
        deliver_inline=get("alerts.deliver_inline"),
        retry_base=get("alerts.retry_base_seconds"),
        retry_max=get("alerts.retry_max_seconds"),
        timeout=get("alerts.timeout_seconds"),
    )


def raise_alerts(
    conn: psycopg.Connection,
    schema: str,
    source: str,
    batch_id: str | None,
    conditions: Sequence[Condition],
    now: datetime,
    settings: AlertSettings,
    *,
    only_rules: Collection[str] | None = None,
    resolve_after: int | None = None,
) -> dict[str, list[int]]:
    """Open, update, reopen or resolve the source's alerts for one batch (caller's transaction).

    A check that is not about a batch (the periodic silence check) passes
    `only_rules`: the source's other open alerts are then left as they are,
    not counted clean. `resolve_after` overrides the setting (1: resolve at
    the first check without the condition).
    """
    return store.apply(
        conn, schema, source, batch_id, conditions, now,
        channel_list=settings.channels, cooldown=settings.cooldown,
        resolve_after=settings.resolve_after if resolve_after is None else resolve_after,
        only_rules=only_rules,
    )  # fmt: skip


def _check(field: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise InputInvalid(field, value, f"must be one of {', '.join(allowed)}")


def list_alerts(
    services: Services,
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first, as dicts (explanation included)."""
    _check("status", status, STATUSES)
    _check("severity", severity, ALERT_SEVERITIES)
    if limit < 1:
        raise InputInvalid("limit", limit, "must be at least 1")
    q = store.queries(services.db.schema)
    with services.db.connection() as conn:
        return store.list_rows(
            conn, q, status=status, severity=severity, source=source, limit=limit
        )


def get_alert(services: Services, alert_id: int) -> dict[str, Any]:
    with services.db.connection() as conn:
        return store.get_row(conn, store.queries(services.db.schema), alert_id)


def acknowledge(
    services: Services, alert_id: int, who: str, now: datetime | None = None
) -> dict[str, Any]:
    """Mark an open alert acknowledged; it still auto-resolves. Returns the alert."""
    q = store.queries(services.db.schema)
    with services.db.connection() as conn, conn.transaction():
        alert = store.get_row(conn, q, alert_id)  # NotFound for an unknown id
        if alert["status"] == "open":
            conn.execute(
                q["acknowledge_alert"],
                {"id": alert_id, "now": now or datetime.now(UTC), "who": who},
            )
        return store.get_row(conn, q, alert_id)


def resolve(
    services: Services, alert_id: int, who: str, now: datetime | None = None
) -> dict[str, Any]:
    """Resolve by hand (no notification: the person resolving knows). Returns the alert."""
    q = store.queries(services.db.schema)
    with services.db.connection() as conn, conn.transaction():
        store.get_row(conn, q, alert_id)
        conn.execute(
            q["resolve_alert"], {"id": alert_id, "now": now or datetime.now(UTC), "who": who}
        )
        return store.get_row(conn, q, alert_id)


def open_alert_counts(services: Services) -> dict[str, int]:
    """Alerts not resolved, by severity (every severity present, zeros included)."""
    q = store.queries(services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["open_counts"]).fetchall()
    counts = dict.fromkeys(ALERT_SEVERITIES, 0)
    counts.update({r[0]: int(r[1]) for r in rows})
    return counts


def deliver_pending(
    services: Services,
    now: datetime | None = None,
    ids: Sequence[int] | None = None,
) -> int:
    """Send every delivery that is due; returns how many were delivered."""
    s = settings_from(services.config)
    return deliver_with(services.db, s, now=now, ids=ids).delivered


def deliver_now(services: Services, ids: Sequence[int], now: datetime | None = None) -> int:
    """Try the just-queued deliveries `ids` once, now; returns how many were delivered.

    Called after the transaction that queued them committed. Nothing is sent
    unless `alerts.deliver_inline`; a database error is logged and leaves the
    deliveries pending for the periodic task (`deliver_pending`), never raised.
    """
    s = settings_from(services.config)
    if not s.deliver_inline or not ids:
        return 0
    # `now` is when the alerts were raised (a batch's checked_at may run ahead
    # of this machine's clock); a delivery is never due before it was queued.
    when = datetime.now(UTC) if now is None else max(datetime.now(UTC), now)
    try:
        return deliver_with(services.db, s, now=when, ids=ids).delivered
    except psycopg.Error:
        log.exception(
            "inline alert delivery failed; the periodic task will retry",
            extra={"action": "alert_inline_failed"},
        )
        return 0


def deliver_with(
    db: Any, s: AlertSettings, *, now: datetime | None = None, ids: Sequence[int] | None = None
) -> outbox.DeliveryOutcome:
    q = store.queries(db.schema)
    with db.connection() as conn:
        return outbox.deliver_due(
            conn, q, s.channels, now or datetime.now(UTC), timeout=s.timeout,
            base=s.retry_base, cap=s.retry_max, ids=ids,
        )  # fmt: skip


def list_deliveries(
    services: Services, alert_id: int | None = None, limit: int = 100
) -> list[tuple[Any, ...]]:
    q = store.queries(services.db.schema)
    with services.db.connection() as conn:
        return conn.execute(q["list_deliveries"], {"alert_id": alert_id, "limit": limit}).fetchall()


def test_channel(
    services: Services, name: str, now: datetime | None = None
) -> outbox.DeliveryOutcome:
    """Queue one test message to the named channel and try to send it now.

    The test delivery goes through the outbox like any other, so a failing
    channel leaves a pending row with the error, which is what one wants to see.
    """
    s = settings_from(services.config)
    channel = next((c for c in s.channels if c.get("name") == name), None)
    if channel is None:
        raise NotFound("alert channel", name)
    now = now or datetime.now(UTC)
    q = store.queries(services.db.schema)
    alert = {
        "id": None, "source": "pgwarden", "rule": "test", "severity": "critical",
        "title": f"test message for channel {name!r}",
        "explanation": {"recommendation": "nothing to do: this is a test"},
    }  # fmt: skip
    with services.db.connection() as conn, conn.transaction():
        ids = outbox.enqueue(conn, q, alert, "test", [{**channel, "min_severity": "medium"}], now)
    return deliver_with(services.db, s, now=now, ids=ids)
