"""Partition names (pure). Names are cosmetic: bounds come from the catalog.

A template holds `{parent}` and date fields of the period's local start
date: `{YYYYMMDD}`, `{YYYY}`, `{MM}`, `{DD}`, `{Q}`. A template is checked when
a policy is written: every name must fit PostgreSQL's 63 bytes and two
periods must never get the same name.
"""

from __future__ import annotations

import hashlib
import re
import string
from datetime import date

from pgwarden.partitions.bounds import period_start

DEFAULT_TEMPLATE = "{parent}_p{YYYYMMDD}"
PRESETS = {
    "_pYYYYMMDD": DEFAULT_TEMPLATE,
    "_YYYYMMDD": "{parent}_{YYYYMMDD}",
    "_YYYY_MM": "{parent}_{YYYY}_{MM}",
    "_yYYYYmMM": "{parent}_y{YYYY}m{MM}",
    "_yYYYYqN": "{parent}_y{YYYY}q{Q}",
}
FIELDS = {"parent", "YYYYMMDD", "YYYY", "MM", "DD", "Q"}
MAX_BYTES = 63
# Periods generated to prove a template gives distinct names (≈ 3 years of days).
_COLLISION_SAMPLE = 1200


def resolve_template(text: str) -> str:
    """A preset name (`_YYYY_MM`) or a template with `{parent}` -> the template."""
    return PRESETS.get(text.strip(), text.strip())


def render(template: str, parent: str, start: date) -> str:
    return template.format(
        parent=parent,
        YYYYMMDD=start.strftime("%Y%m%d"),
        YYYY=f"{start.year:04d}",
        MM=f"{start.month:02d}",
        DD=f"{start.day:02d}",
        Q=str((start.month - 1) // 3 + 1),
    )


def fallback(parent: str, start: date, end: date) -> str:
    """A name for a span whose templated name is taken: short, deterministic, unique by span."""
    digest = hashlib.sha1(f"{parent}|{start}|{end}".encode()).hexdigest()[:8]
    base = f"_p{start:%Y%m%d}_{digest}"
    room = MAX_BYTES - len(base.encode())
    head = parent.encode()[:room].decode("utf-8", errors="ignore")
    return head + base


def check_template(template: str, parent: str, unit: str, count: int) -> str | None:
    """Why this template cannot name this parent's periods, or None if it can."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        return f"not a valid template ({exc})"
    unknown = fields - FIELDS
    if unknown:
        return "unknown field(s) " + ", ".join(sorted("{" + f + "}" for f in unknown))
    if "parent" not in fields:
        return "the template must contain {parent}"
    if not re.fullmatch(r"[^\x00]*", template):
        return "the template contains a NUL byte"
    names: dict[str, date] = {}
    longest = 0
    for i in range(_COLLISION_SAMPLE):
        start = period_start(unit, count, i)
        name = render(template, parent, start)
        longest = max(longest, len(name.encode()))
        if name in names:
            return f"periods starting {names[name]} and {start} would both be named {name!r}"
        names[name] = start
    if longest > MAX_BYTES:
        return f"names would be {longest} bytes; PostgreSQL keeps {MAX_BYTES}"
    return None
