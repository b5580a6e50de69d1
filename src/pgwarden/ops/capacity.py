"""Capacity: daily size samples, growth fitted over them, days until a limit.

The fit is Theil–Sen (the median of pairwise slopes), robust to one day of
bulk load or a purge. With fewer than `MIN_DAYS` days of history the seed's
assumption (20 % a year, ops.capacity_fallback_growth) is used instead, and
the projection says so.
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden.jsonable import jsonable
from pgwarden.ops.runner import queries

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

MIN_DAYS = 7  # days of history before a fit is trusted
HISTORY_DAYS = 90
TOP = 10


@dataclass(frozen=True)
class Projection:
    object: str
    bytes: int
    growth_per_day: float
    method: str  # "fit over N days" or "fallback ..."
    fitted: bool
    limit: int | None
    days_to_limit: float | None
    alert: bool

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dict(self.__dict__))


def theil_sen(points: Sequence[tuple[date, int]]) -> float:
    """Median slope in bytes per day over every pair of distinct days."""
    slopes = [
        (b1 - b0) / (d1 - d0).days
        for i, (d0, b0) in enumerate(points)
        for d1, b1 in points[i + 1 :]
        if d1 != d0
    ]
    return statistics.median(slopes) if slopes else 0.0


def project(
    name: str,
    current: int,
    history: Sequence[tuple[date, int]],
    *,
    limit: int | None,
    headroom: int | None = None,
    fallback_growth: float,
    alert_days: int,
) -> Projection:
    """Pure: growth and days until `limit` (or until `headroom` more bytes are used)."""
    days = sorted({d for d, _ in history})
    span = (days[-1] - days[0]).days if days else 0
    if len(days) >= MIN_DAYS and span >= MIN_DAYS - 1:
        growth = theil_sen(sorted(history))
        method, fitted = f"Theil-Sen fit over {len(days)} days of samples", True
    else:
        growth = current * fallback_growth / 365.0
        method = (
            f"fallback {fallback_growth:.0%}/year (seed 003): only {len(days)} day(s) of "
            f"history, a fit needs {MIN_DAYS}"
        )
        fitted = False
    room = headroom if headroom is not None else (limit - current if limit else None)
    if room is None:
        until = None
    elif room <= 0:
        until = 0.0
    elif growth <= 0:
        until = None  # not growing: never, as far as the samples tell
    else:
        until = room / growth
    return Projection(
        name,
        current,
        round(growth, 1),
        method,
        fitted,
        limit,
        round(until, 1) if until is not None else None,
        until is not None and until < alert_days,
    )


def sample_sizes(services: Services, day: date | None = None) -> int:
    """Record today's sizes (database, tables, partitions); returns the rows written."""
    day = day or datetime.now(UTC).date()
    q = queries(services)
    with services.db.connection() as conn:
        rows = conn.execute(q["current_sizes"]).fetchall()
        with conn.transaction():
            for kind, obj, size, est in rows:
                conn.execute(
                    q["record_size"],
                    {"day": day, "object": obj, "kind": kind, "bytes": size, "est_rows": est},
                )
    return len(rows)


def _disk(services: Services) -> tuple[int | None, int | None, str]:
    """(total, free) bytes of the disk holding the data directory, when it is local."""
    with services.db.connection() as conn:
        row = conn.execute(queries(services)["data_directory"]).fetchone()
    path = row[0] if row and row[0] else None
    if path and os.path.isdir(path):
        usage = shutil.disk_usage(path)
        return usage.total, usage.free, f"disk of {path}"
    return None, None, "unknown (set ops.capacity_limit)"


def capacity_report(services: Services, *, sample: bool = True) -> dict[str, Any]:
    """The database's projection and the top tables' growth."""
    cfg = services.config
    if sample:
        sample_sizes(services)
    today = datetime.now(UTC).date()
    since = today - timedelta(days=HISTORY_DAYS)
    q = queries(services)
    history: dict[str, dict[str, list[tuple[date, int]]]] = defaultdict(lambda: defaultdict(list))
    with services.db.connection() as conn:
        current = conn.execute(q["current_sizes"]).fetchall()
        for kind in ("database", "table"):
            for obj, day, size in conn.execute(
                q["size_history"], {"kind": kind, "since": since}
            ).fetchall():
                history[kind][obj].append((day, int(size)))
    limit = int(cfg.get("ops.capacity_limit")) or None
    fallback = float(cfg.get("ops.capacity_fallback_growth"))
    alert_days = int(cfg.get("ops.capacity_alert_days"))
    db_now = next((int(b) for k, _, b, _ in current if k == "database"), 0)
    db_name = next((o for k, o, _, _ in current if k == "database"), "?")
    headroom = None
    if limit:
        limit_source = "ops.capacity_limit"
    else:
        total, free, limit_source = _disk(services)
        if total is not None and free is not None:
            limit, headroom = total, free
    db = project(
        db_name,
        db_now,
        history["database"].get(db_name, []),
        limit=limit,
        headroom=headroom,
        fallback_growth=fallback,
        alert_days=alert_days,
    )
    tables = sorted(
        (
            project(
                o,
                int(b),
                history["table"].get(o, []),
                limit=None,
                fallback_growth=fallback,
                alert_days=alert_days,
            )
            for k, o, b, _ in current
            if k == "table"
        ),
        key=lambda p: (p.growth_per_day, p.bytes),
        reverse=True,
    )[:TOP]
    return {
        "database": db.to_dict(),
        "limit_source": limit_source,
        "alert_days": alert_days,
        "top_tables": [t.to_dict() for t in tables],
    }
