"""Period arithmetic in a policy's time zone (pure).

Periods are aligned to a fixed grid so that every run, on every machine,
computes the same boundaries: day periods count from Monday 2000-01-03
(so weekly periods are ISO weeks), month periods from January 2000 (so
quarters start in January, April, July, October and years in January).
A boundary is local midnight in the policy's zone, turned into an absolute
instant; doing the arithmetic on dates and localising only at the end is
what keeps boundaries right across DST changes and month ends.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DAY_EPOCH = date(2000, 1, 3)  # a Monday
MONTH_EPOCH_YEAR = 2000
KEY_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


def period_index(unit: str, count: int, d: date) -> int:
    """The index of the period that holds local date `d`."""
    if unit == "days":
        return (d - DAY_EPOCH).days // count
    return ((d.year - MONTH_EPOCH_YEAR) * 12 + d.month - 1) // count


def period_start(unit: str, count: int, index: int) -> date:
    """The local date on which period `index` starts."""
    if unit == "days":
        return DAY_EPOCH + timedelta(days=index * count)
    months = index * count
    return date(MONTH_EPOCH_YEAR + months // 12, months % 12 + 1, 1)


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """Midnight of `d` in `tz` as an aware UTC instant.

    Where midnight does not exist (a DST jump at 00:00), zoneinfo's fold=0
    rule gives the instant just after the gap, which is what PostgreSQL does.
    """
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def boundary(unit: str, count: int, index: int, tz: ZoneInfo) -> datetime:
    return local_midnight(period_start(unit, count, index), tz)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    last = calendar.monthrange(y, m + 1)[1]
    return date(y, m + 1, min(d.day, last))


def minus_span(now: datetime, months: int, days: int, tz: tzinfo) -> datetime:
    """`now` minus a calendar span in `tz` wall-clock time (Feb 29 - 1 year = Feb 28)."""
    local = now.astimezone(tz)
    d = add_months(local.date(), -months) - timedelta(days=days)
    wall = datetime.combine(d, local.time().replace(tzinfo=None))
    return wall.replace(tzinfo=tz).astimezone(UTC)


# -- literals to and from the catalog ------------------------------------------------

_QUOTED = re.compile(r"^'(.*)'(::[\w\s]+)?$", re.DOTALL)


def parse_bound(text: str, key_type: str, tz: ZoneInfo) -> datetime | None:
    """One bound value as pg_get_expr prints it (session time zone UTC) -> instant.

    Returns None for MINVALUE, MAXVALUE and ±infinity: such a partition is
    unbounded and pgwarden leaves it alone.
    """
    text = text.strip()
    m = _QUOTED.match(text)
    if not m:
        return None  # MINVALUE / MAXVALUE
    return parse_value(m.group(1), key_type, tz)


def parse_value(value: str, key_type: str, tz: ZoneInfo) -> datetime | None:
    """A key value as PostgreSQL prints it (session time zone UTC) -> instant."""
    if value in ("infinity", "-infinity"):
        return None
    if key_type == "date":
        return local_midnight(date.fromisoformat(value), tz)
    parsed = datetime.fromisoformat(value)
    if key_type == "timestamp without time zone":
        return parsed.replace(tzinfo=tz).astimezone(UTC)
    if parsed.tzinfo is None:  # defensive: a timestamptz printed without offset is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def bound_literal(instant: datetime, key_type: str, tz: ZoneInfo) -> str:
    """An instant as the literal for a FOR VALUES clause of a column of `key_type`."""
    if key_type == "date":
        return instant.astimezone(tz).date().isoformat()
    if key_type == "timestamp without time zone":
        return instant.astimezone(tz).replace(tzinfo=None).isoformat(sep=" ")
    return instant.astimezone(UTC).isoformat(sep=" ")
