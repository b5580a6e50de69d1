"""The delivery outbox: pending rows in alert_deliveries, sent and retried with backoff.

Deliveries are queued in the same transaction that opens, escalates or
resolves the alert, so an alert can never exist without its notifications.
A row leaves `pending` only when a channel accepted it; a failure records
the error and the next attempt time (exponential backoff with full jitter,
capped), so an alert that cannot be delivered stays pending and is never
lost. The clock and the random source are arguments.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.alerts import channels as ch
from pgwarden.db.queries import Queries

log = logging.getLogger(__name__)


def next_attempt(
    attempts: int, now: datetime, *, base: float, cap: float, rand: Callable[[], float]
) -> datetime:
    """When to retry after `attempts` failures: uniform in [d/2, d], d = base 2^(n-1) capped."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return now + timedelta(seconds=delay * (0.5 + 0.5 * rand()))


@dataclass(frozen=True)
class DeliveryOutcome:
    delivered: int
    failed: int
    errors: tuple[str, ...] = ()


def enqueue(
    conn: psycopg.Connection,
    q: Queries,
    alert: Mapping[str, Any],
    event: str,
    channel_list: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[int]:
    """Queue one delivery per channel that wants this alert; returns the delivery ids."""
    ids = []
    payload = {"event": event, "alert": dict(alert), "sent_by": "pgwarden"}
    for channel in channel_list:
        if not ch.wants(channel, str(alert.get("severity")), alert.get("source")):
            continue
        row = conn.execute(
            q["enqueue_delivery"],
            {
                "alert_id": alert.get("id"),
                "event": event,
                "channel": channel["name"],
                "payload": Jsonb(payload, dumps=_dumps),
                "now": now,
            },
        ).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def deliver_due(
    conn: psycopg.Connection,
    q: Queries,
    channel_list: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    timeout: float = 5.0,
    base: float = 30.0,
    cap: float = 3600.0,
    limit: int = 100,
    ids: Sequence[int] | None = None,
    rand: Callable[[], float] = random.random,
) -> DeliveryOutcome:
    """Send the deliveries due at `now` (or just `ids`), one short transaction each batch.

    A delivery to a channel no longer configured stays pending with an error
    saying so: removing a channel must not silently drop what it owed.
    """
    by_name = {c["name"]: c for c in channel_list}
    delivered = failed = 0
    errors: list[str] = []
    with conn.transaction():
        rows = conn.execute(
            q["due_deliveries"], {"now": now, "limit": limit, "ids": list(ids) if ids else None}
        ).fetchall()
        for did, _alert_id, _event, name, payload, attempts in rows:
            channel = by_name.get(name)
            try:
                if channel is None:
                    raise ch.DeliveryFailed(name, "no channel of that name in alerts.channels")
                ch.send(channel, payload, timeout)
            except ch.DeliveryFailed as exc:
                failed += 1
                errors.append(str(exc))
                retry = next_attempt(attempts + 1, now, base=base, cap=cap, rand=rand)
                conn.execute(q["failed"], {"id": did, "error": exc.reason, "next": retry})
                log.warning(
                    "delivery %s to %s failed (attempt %s): %s; next try at %s",
                    did, name, attempts + 1, exc.reason, retry.isoformat(),
                    extra={"action": "alert_delivery_failed", "delivery_id": did},
                )  # fmt: skip
                continue
            delivered += 1
            conn.execute(q["delivered"], {"id": did, "now": now})
    return DeliveryOutcome(delivered, failed, tuple(errors))
