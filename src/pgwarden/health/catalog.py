"""The collector catalogue: which query serves which server version, and when each is due.

Queries live in `collectors.sql` as blocks named `<collector>__<major>`; the
block with the highest major not above the server's serves it. Everything
here is pure: the edge asks `plan(version, extensions, last_run, now)` which
collectors to run and gets back their SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pgwarden.db.queries import load

MIN_MAJOR = 15
_BLOCK = re.compile(r"^([a-z_]+?)__(\d+)$")

#: collector cadence classes; the seconds come from config (health.*_interval)
FAST = "fast"
SLOW = "slow"
STATEMENTS = "statements"
CADENCES = (FAST, SLOW, STATEMENTS)


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    cadence: str
    reads: str  # the view or function named in a permission error
    requires_extension: str | None = None
    doc: str = ""


COLLECTORS: tuple[CollectorSpec, ...] = (
    CollectorSpec("server", FAST, "pg_postmaster_start_time()"),
    CollectorSpec("database", FAST, "pg_stat_database"),
    CollectorSpec("activity", FAST, "pg_stat_activity"),
    CollectorSpec("sessions", FAST, "pg_stat_activity"),
    CollectorSpec("wait_events", FAST, "pg_stat_activity"),
    CollectorSpec("locks", FAST, "pg_locks"),
    CollectorSpec("lock_waits", FAST, "pg_locks / pg_blocking_pids()"),
    CollectorSpec("settings", FAST, "pg_settings"),
    CollectorSpec("bgwriter", FAST, "pg_stat_bgwriter / pg_stat_checkpointer"),
    CollectorSpec("archiver", FAST, "pg_stat_archiver"),
    CollectorSpec("replication", FAST, "pg_stat_replication"),
    CollectorSpec("slots", FAST, "pg_replication_slots"),
    CollectorSpec("wal", FAST, "pg_ls_waldir()"),
    CollectorSpec("wraparound", FAST, "pg_database"),
    CollectorSpec("tables", FAST, "pg_stat_user_tables"),
    CollectorSpec("indexes", FAST, "pg_stat_user_indexes"),
    CollectorSpec("sizes", SLOW, "pg_relation_size()"),
    CollectorSpec("database_sizes", SLOW, "pg_database_size()"),
    CollectorSpec("statements", STATEMENTS, "pg_stat_statements", "pg_stat_statements"),
)
BY_NAME = {c.name: c for c in COLLECTORS}


@cache
def _blocks() -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for name, text in load("pgwarden.health", "collectors.sql").items():
        m = _BLOCK.match(name)
        if m is None:
            raise ValueError(f"collectors.sql: block {name!r} is not named <collector>__<major>")
        out.setdefault(m.group(1), {})[int(m.group(2))] = text
    return out


def major_of(version_num: int) -> int:
    """150018 -> 15; 180001 -> 18."""
    return version_num // 10000


def query_for(collector: str, version_num: int) -> str:
    """The SQL text serving this collector on this server version.

    Raises ValueError for an unknown collector or a server older than any block.
    """
    versions = _blocks().get(collector)
    if not versions:
        raise ValueError(f"no collector {collector!r} in the catalogue")
    major = major_of(version_num)
    usable = [v for v in versions if v <= major]
    if not usable:
        raise ValueError(
            f"collector {collector!r} needs PostgreSQL {min(versions)} or later (server is {major})"
        )
    return versions[max(usable)]


def supported(version_num: int) -> bool:
    return major_of(version_num) >= MIN_MAJOR


@dataclass(frozen=True)
class Planned:
    spec: CollectorSpec
    sql: str


def plan(
    version_num: int,
    extensions: Iterable[str],
    last_run: Mapping[str, datetime],
    now: datetime,
    intervals: Mapping[str, float],
    *,
    force: bool = False,
) -> tuple[list[Planned], list[str]]:
    """Collectors due at `now` and the names skipped because an extension is missing.

    A collector is due when it never ran or its cadence's interval (seconds)
    has passed since its last run; `force` runs every collector.
    """
    have = set(extensions)
    due: list[Planned] = []
    missing: list[str] = []
    for spec in COLLECTORS:
        if spec.requires_extension and spec.requires_extension not in have:
            missing.append(spec.name)
            continue
        last = last_run.get(spec.name)
        every = float(intervals.get(spec.cadence, 0))
        if force or last is None or (now - last).total_seconds() >= every - 0.5:
            due.append(Planned(spec, query_for(spec.name, version_num)))
    return due, missing
