"""Partition policies: the model, parsing of user text, and validation (pure).

A policy says how one range-partitioned parent is kept: the period length,
how many future periods exist ahead of the current one, how long partitions
are retained and what happens to them afterwards. Everything here is a
function of its inputs; the database edge (store.py) calls `validate` before
it writes anything, and the table's CHECK constraints repeat the rules.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import naming

INTERVAL_WORDS = {
    "daily": ("days", 1),
    "weekly": ("days", 7),
    "monthly": ("months", 1),
    "quarterly": ("months", 3),
    "yearly": ("months", 12),
}
ACTIONS = ("drop", "detach", "archive")
DEFAULT_MODES = ("none", "keep-empty")
MAX_PREMAKE = 1000
AVG_MONTH_DAYS = 30.436875  # Gregorian average, for "is retention shorter than one period"

_AMOUNT = re.compile(
    r"^\s*(\d+)\s*(d|day|days|w|week|weeks|mon|mons|month|months|y|year|years|"
    r"q|quarter|quarters)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TableName:
    """A schema-qualified table name as PostgreSQL stores it (no quoting)."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


def quote_ident(name: str) -> str:
    """Quote like PostgreSQL's quote_ident, for display only (SQL uses sql.Identifier)."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def parse_table_name(text: str, default_schema: str = "public") -> TableName:
    """Parse `schema.table`, `"Odd Schema"."Odd Table"` or `table` as written in SQL.

    Unquoted parts fold to lower case as PostgreSQL does, except that a plain
    `Schema.Table` without quotes that is not valid SQL is kept as written.
    """
    parts: list[str] = []
    i, s = 0, text.strip()
    if not s:
        raise PartitionPolicyInvalid(text, "table", text, "a table name is required")
    while i < len(s):
        if s[i] == '"':
            j, buf = i + 1, []
            while True:
                if j >= len(s):
                    raise PartitionPolicyInvalid(text, "table", text, "unbalanced double quote")
                if s[j] == '"':
                    if j + 1 < len(s) and s[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(s[j])
                j += 1
            parts.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < len(s) and s[j] != ".":
                j += 1
            part = s[i:j].strip()
            if not part:
                raise PartitionPolicyInvalid(text, "table", text, "empty name part")
            parts.append(_fold(part))
            i = j
        if i < len(s):
            if s[i] != ".":
                raise PartitionPolicyInvalid(text, "table", text, "expected '.' between parts")
            i += 1
            if i >= len(s):
                raise PartitionPolicyInvalid(text, "table", text, "name ends with '.'")
    if len(parts) == 1:
        parts.insert(0, default_schema)
    if len(parts) != 2:
        raise PartitionPolicyInvalid(text, "table", text, "write schema.table")
    for part in parts:
        if not part:
            raise PartitionPolicyInvalid(text, "table", text, "empty name part")
        if len(part.encode()) > 63:
            raise PartitionPolicyInvalid(text, "table", text, f"{part!r} is over 63 bytes")
    return TableName(parts[0], parts[1])


def _fold(part: str) -> str:
    """Fold an unquoted part as PostgreSQL does (ASCII letters only); odd text stays as written."""
    if re.fullmatch(r"[^\W\d][\w$]*", part):
        return "".join(c.lower() if c.isascii() else c for c in part)
    return part


@dataclass(frozen=True)
class Span:
    """A calendar amount: months and days, applied in a time zone's wall clock."""

    months: int
    days: int

    def approx_days(self) -> float:
        return self.months * AVG_MONTH_DAYS + self.days

    def text(self) -> str:
        out = []
        if self.months:
            if self.months % 12 == 0:
                out.append(f"{self.months // 12} year" + ("s" if self.months > 12 else ""))
            else:
                out.append(f"{self.months} month" + ("s" if self.months > 1 else ""))
        if self.days:
            out.append(f"{self.days} day" + ("s" if self.days > 1 else ""))
        return " ".join(out) or "0 days"


def parse_span(text: str, field: str, table: str) -> Span:
    """'90 days', '6 months', '2 years', '1 quarter', '2 weeks' -> Span."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise PartitionPolicyInvalid(
            table, field, text, "write a whole number and a unit: days, weeks, months, years"
        )
    n, unit = int(m.group(1)), m.group(2).lower()
    if n <= 0:
        raise PartitionPolicyInvalid(table, field, text, "must be positive")
    if unit.startswith("d"):
        return Span(0, n)
    if unit.startswith("w"):
        return Span(0, 7 * n)
    if unit.startswith("q"):
        return Span(3 * n, 0)
    if unit.startswith("y"):
        return Span(12 * n, 0)
    return Span(n, 0)


def parse_interval(text: str, table: str) -> tuple[str, int]:
    """'daily' ... 'yearly', or 'N days' / 'N months' -> (unit, count)."""
    word = str(text).strip().lower()
    if word in INTERVAL_WORDS:
        return INTERVAL_WORDS[word]
    try:
        span = parse_span(word, "interval", table)
    except PartitionPolicyInvalid:
        raise PartitionPolicyInvalid(
            table,
            "interval",
            text,
            "use daily, weekly, monthly, quarterly, yearly, 'N days' or 'N months'",
        ) from None
    if span.months and span.days:
        raise PartitionPolicyInvalid(table, "interval", text, "use days or months, not both")
    return ("months", span.months) if span.months else ("days", span.days)


def interval_text(unit: str, count: int) -> str:
    for word, value in INTERVAL_WORDS.items():
        if value == (unit, count):
            return word
    return f"{count} {unit}"


@dataclass(frozen=True)
class Policy:
    """How one parent is kept. Frozen: a run reads policies fresh and never mutates them."""

    table: TableName
    interval_unit: str = "months"
    interval_count: int = 1
    premake: int = 4
    retention: Span | None = None
    retention_action: str = "drop"
    archive_dir: str | None = None
    keep_at_least: int = 1
    max_drops_per_run: int = 100
    naming: str = naming.DEFAULT_TEMPLATE
    timezone: str = "UTC"
    default_mode: str = "none"
    enabled: bool = True
    priority: int = 100

    @property
    def interval(self) -> str:
        return interval_text(self.interval_unit, self.interval_count)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["table"] = str(self.table)
        d["interval"] = self.interval
        d["retention"] = self.retention.text() if self.retention else None
        return d

    def with_changes(self, **changes: Any) -> Policy:
        return replace(self, **changes)


def build_policy(
    table: TableName,
    *,
    interval: str | None = None,
    premake: int | None = None,
    retention: str | None = None,
    action: str | None = None,
    archive_dir: str | None = None,
    keep_at_least: int | None = None,
    max_drops_per_run: int | None = None,
    naming_template: str | None = None,
    timezone: str | None = None,
    default_mode: str | None = None,
    enabled: bool | None = None,
    priority: int | None = None,
    base: Policy | None = None,
) -> Policy:
    """A new policy from user text (or `base` with changes), validated; raises on bad input.

    `retention="none"` clears a retention.
    """
    policy = base or Policy(table=table)
    changes: dict[str, Any] = {}
    if interval is not None:
        unit, count = parse_interval(interval, str(table))
        changes.update(interval_unit=unit, interval_count=count)
    if retention is not None:
        none = retention.strip().lower() in ("none", "")
        changes["retention"] = None if none else parse_span(retention, "retention", str(table))
    for name, value in (
        ("premake", premake),
        ("retention_action", action),
        ("archive_dir", archive_dir),
        ("keep_at_least", keep_at_least),
        ("max_drops_per_run", max_drops_per_run),
        ("naming", naming_template),
        ("timezone", timezone),
        ("default_mode", default_mode),
        ("enabled", enabled),
        ("priority", priority),
    ):
        if value is not None:
            changes[name] = value
    if "naming" in changes:
        changes["naming"] = naming.resolve_template(changes["naming"])
    if "archive_dir" in changes and changes["archive_dir"] is not None:
        changes["archive_dir"] = os.path.abspath(os.path.expanduser(changes["archive_dir"]))
    result = replace(policy, **changes)
    validate(result)
    return result


def validate(p: Policy, *, check_dir: bool = True) -> None:
    """Raise PartitionPolicyInvalid naming the first bad field; return None when fine."""
    t = str(p.table)
    if p.interval_unit not in ("days", "months"):
        raise PartitionPolicyInvalid(t, "interval", p.interval_unit, "unit must be days or months")
    limit = 120 if p.interval_unit == "months" else 3660
    if not 1 <= p.interval_count <= limit:
        raise PartitionPolicyInvalid(
            t, "interval", p.interval, f"between 1 and {limit} {p.interval_unit}"
        )
    if not 0 <= p.premake <= MAX_PREMAKE:
        raise PartitionPolicyInvalid(t, "premake", p.premake, f"between 0 and {MAX_PREMAKE}")
    if p.retention_action not in ACTIONS:
        raise PartitionPolicyInvalid(
            t, "action", p.retention_action, "one of " + ", ".join(ACTIONS)
        )
    if p.default_mode not in DEFAULT_MODES:
        raise PartitionPolicyInvalid(
            t, "default_mode", p.default_mode, "one of " + ", ".join(DEFAULT_MODES)
        )
    if p.keep_at_least < 0:
        raise PartitionPolicyInvalid(t, "keep_at_least", p.keep_at_least, "must be 0 or more")
    if p.max_drops_per_run < 1:
        raise PartitionPolicyInvalid(
            t, "max_drops_per_run", p.max_drops_per_run, "must be 1 or more"
        )
    try:
        ZoneInfo(p.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartitionPolicyInvalid(
            t, "timezone", p.timezone, "not an IANA time zone (e.g. UTC, Europe/Berlin)"
        ) from None
    if p.retention is not None:
        period_days = p.interval_count * (AVG_MONTH_DAYS if p.interval_unit == "months" else 1)
        if p.retention.approx_days() + 1e-9 < period_days:
            raise PartitionPolicyInvalid(
                t,
                "retention",
                p.retention.text(),
                f"shorter than one interval ({p.interval}); nothing could ever be kept",
            )
    problem = naming.check_template(p.naming, p.table.name, p.interval_unit, p.interval_count)
    if problem:
        raise PartitionPolicyInvalid(t, "naming", p.naming, problem)
    if p.retention_action == "archive":
        if not p.archive_dir:
            raise PartitionPolicyInvalid(
                t, "archive_dir", p.archive_dir, "action archive needs --archive-dir"
            )
        if check_dir:
            problem = _dir_problem(p.archive_dir)
            if problem:
                raise PartitionPolicyInvalid(t, "archive_dir", p.archive_dir, problem)


def _dir_problem(path: str) -> str | None:
    """Prove the directory is writable by writing a file there (permissions lie for root)."""
    from pathlib import Path

    from pgwarden.partitions.archive import make_private_dirs

    try:
        make_private_dirs(Path(path))  # archived rows are private: new directories 0700
        with tempfile.NamedTemporaryFile(dir=path, prefix=".pgwarden-probe-"):
            pass
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc})"
    return None
