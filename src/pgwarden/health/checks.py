"""The daily checklist of seed 003 section 9 as pass / warn / fail items (pure).

Each item carries its evidence (the numbers it judged) and the fix to apply,
as SQL where one applies. `exit_code` maps the worst status to 0 / 1 / 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pgwarden.health.families import XID_LIMIT
from pgwarden.health.findings import lock_chains
from pgwarden.health.snapshot import Snapshot

PASS, WARN, FAIL = "pass", "warn", "fail"
ORDER = {PASS: 0, WARN: 1, FAIL: 2}
MIN_BLOCKS = 1000  # below this much block traffic the cache hit ratio says nothing
UNUSED_MIN_BYTES = 1 << 20  # unused indexes smaller than this are listed, not warned about


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    status: str
    evidence: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def exit_code(items: Sequence[Item]) -> int:
    return max((ORDER[i.status] for i in items), default=0)


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def check(snap: Snapshot) -> list[Item]:
    """Every item for one target's snapshot (a down target is one failing item)."""
    if not snap.up:
        return [Item("reachable", "server reachable", FAIL, snap.error or "down",
                     "check the server and the target's DSN")]  # fmt: skip
    items = [Item("reachable", "server reachable", PASS,
                  f"PostgreSQL {snap.one('server').get('short_version', '?')}")]  # fmt: skip
    items += [_connections(snap), _cache_hit(snap), _dead_tuples(snap), _locks(snap)]
    items += [_transactions(snap), *_indexes(snap), _wraparound(snap), _slots(snap)]
    items += [_archiver(snap), _statements(snap), _sizes(snap), _collectors(snap)]
    return items


def _connections(s: Snapshot) -> Item:
    settings = s.settings()
    used = sum(float(r["count"]) for r in s.rows("activity"))
    usable = settings.get("max_connections", 100) - settings.get(
        "superuser_reserved_connections", 3
    )
    ratio = used / usable if usable > 0 else 1.0
    status = FAIL if ratio >= 0.95 else WARN if ratio > 0.8 else PASS
    return Item("connections", "connections below 80% of the usable slots", status,
                f"{used:.0f} of {usable:.0f} usable connections ({_pct(ratio)})",
                "" if status == PASS else "put a connection pool (pgbouncer) in front, or "
                "ALTER SYSTEM SET max_connections = ... (restart)")  # fmt: skip


def _cache_hit(s: Snapshot) -> Item:
    datname = s.one("server").get("datname")
    row = next((r for r in s.rows("database") if r["datname"] == datname), None)
    if row is None:
        return Item("cache_hit", "cache hit ratio at least 90%", WARN, "no pg_stat_database row")
    hit, read = float(row["blks_hit"]), float(row["blks_read"])
    if hit + read < MIN_BLOCKS:
        return Item(
            "cache_hit",
            "cache hit ratio at least 90%",
            PASS,
            f"{hit + read:.0f} blocks read since the stats reset: too little to judge",
        )
    ratio = hit / (hit + read)
    status = FAIL if ratio < 0.90 else WARN if ratio < 0.95 else PASS
    return Item("cache_hit", "cache hit ratio at least 90%", status,
                f"{_pct(ratio)} of {hit + read:.0f} block reads of {datname} hit shared buffers",
                "" if status == PASS else "ALTER SYSTEM SET shared_buffers = '...' (about 25% "
                "of RAM; restart), then look at the statements reading most blocks")  # fmt: skip


def _dead_tuples(s: Snapshot) -> Item:
    debt = s.rows("vacuum_debt")
    bad = [d for d in debt if d["dead_ratio"] > 0.2 and d["n_dead_tup"] > 1000]
    title = "dead tuples under 20% and under the autovacuum trigger"
    if not debt:
        return Item("dead_tuples", title, PASS, "no table over its autovacuum trigger")
    worst = debt[0]
    ev = (f"{len(debt)} table(s) over the autovacuum trigger; worst {worst['table']}: "
          f"{worst['n_dead_tup']:.0f} dead ({_pct(worst['dead_ratio'])})"
          + (", autovacuum disabled" if worst["autovacuum_disabled"] else ""))  # fmt: skip
    fix = " ".join(d["fix"] for d in debt[:5])
    return Item("dead_tuples", title, WARN if bad or debt else PASS, ev, fix)


def _locks(s: Snapshot) -> Item:
    chains = lock_chains(s.rows("lock_waits"))
    title = "no session waiting on a lock"
    if not chains:
        return Item("lock_waits", title, PASS, "no lock waits")
    w = chains[0]
    status = FAIL if w.wait_seconds > 60 else WARN
    ev = (f"{len(chains)} session(s) waiting; longest pid {w.pid} for {w.wait_seconds:.0f} s "
          f"on {w.relation or w.locktype} ({w.mode}), root blocker pid "
          f"{', '.join(map(str, w.roots))}")  # fmt: skip
    return Item("lock_waits", title, status, ev,
                f"SELECT pg_cancel_backend({w.roots[0]});  -- or pg_terminate_backend, "
                "after checking what the root blocker runs: pgwarden health locks")  # fmt: skip


def _transactions(s: Snapshot) -> Item:
    sess = s.one("sessions")
    idle = float(sess.get("idle_in_transaction_max_seconds") or 0)
    active = float(sess.get("longest_active_transaction_seconds") or 0)
    status = WARN if idle > 600 or active > 300 else PASS
    return Item("transactions", "no transaction open for long", status,
                f"longest active transaction {active:.0f} s, longest idle in transaction "
                f"{idle:.0f} s",
                "" if status == PASS else "ALTER SYSTEM SET idle_in_transaction_session_timeout"
                " = '10min'; SELECT pg_reload_conf();")  # fmt: skip


def _indexes(s: Snapshot) -> list[Item]:
    f = s.one("index_findings")
    if not f:
        return [Item("indexes", "index health", WARN, "index statistics were not collected")]
    out = []
    droppable = [u for u in f.get("unused") or [] if u["safe_to_drop"]]
    # a few pages of an unused index cost nothing; a fresh schema would warn for each
    unused = [u for u in droppable if u["index_bytes"] >= UNUSED_MIN_BYTES]
    out.append(Item(
        "unused_indexes", "no unused index over 1 MB (not scanned since the stats reset)",
        WARN if unused else PASS,
        f"{len(unused)} unused index(es) over 1 MB that no constraint needs "
        f"({len(droppable) - len(unused)} smaller ones listed by `pgwarden health indexes`)"
        + (f"; largest {unused[0]['index']} ({unused[0]['index_bytes'] / 1024:.0f} kB)"
           if unused else ""),
        " ".join(u["fix"] for u in unused[:5]),
    ))  # fmt: skip
    invalid = f.get("invalid") or []
    out.append(Item("invalid_indexes", "no invalid index", FAIL if invalid else PASS,
                    ", ".join(i["index"] for i in invalid[:5]) or "none",
                    " ".join(i["fix"] for i in invalid[:5])))  # fmt: skip
    bloated = f.get("bloated") or []
    out.append(Item("bloated_indexes", "no index bigger than its table", WARN if bloated else PASS,
                    ", ".join(f"{b['index']} ({b['index_bytes'] / 1024:.0f} kB vs table "
                              f"{b['table_bytes'] / 1024:.0f} kB)" for b in bloated[:5]) or "none",
                    " ".join(b["fix"] for b in bloated[:5])))  # fmt: skip
    dup = f.get("duplicate") or []
    out.append(Item("duplicate_indexes", "no duplicate index", WARN if dup else PASS,
                    ", ".join(f"{d['index']} = {d['duplicate_of']}" for d in dup[:5]) or "none",
                    " ".join(d["fix"] or "" for d in dup[:5])))  # fmt: skip
    return out


def _wraparound(s: Snapshot) -> Item:
    rows = s.rows("wraparound")
    if not rows:
        return Item("wraparound", "transaction id headroom", WARN, "not collected")
    worst = max(rows, key=lambda r: max(float(r["xid_age"]), float(r["mxid_age"])))
    age = max(float(worst["xid_age"]), float(worst["mxid_age"]))
    headroom = 1 - age / XID_LIMIT
    status = FAIL if headroom < 0.5 else WARN if headroom < 0.85 else PASS
    return Item(
        "wraparound",
        "transaction id and multixact headroom above 85%",
        status,
        f"{worst['datname']}: {_pct(headroom)} left (age {age:.0f})",
        "" if status == PASS else "VACUUM (FREEZE, VERBOSE);  -- in that database",
    )


def _slots(s: Snapshot) -> Item:
    inactive = [r for r in s.rows("slots") if not r["active"]]
    if not inactive:
        return Item("slots", "no inactive replication slot", PASS, "none")
    r = max(inactive, key=lambda x: float(x["retained_bytes"]))
    return Item("slots", "no inactive replication slot", WARN,
                f"{len(inactive)} inactive; {r['slot_name']} retains "
                f"{float(r['retained_bytes']) / 1048576:.1f} MB of WAL",
                f"SELECT pg_drop_replication_slot('{r['slot_name']}');  -- if its consumer "
                "is gone")  # fmt: skip


def _archiver(s: Snapshot) -> Item:
    a = s.one("archiver")
    failed = float(a.get("failed_count") or 0)
    recent = failed and float(a.get("last_failed_time") or 0) > 0
    return Item(
        "archiver",
        "WAL archiving not failing",
        WARN if recent else PASS,
        f"{failed:.0f} failed archive attempts since the stats reset",
        "check archive_command and the archive's free space" if recent else "",
    )


def _statements(s: Snapshot) -> Item:
    if "statements" in s.missing:
        return Item("pg_stat_statements", "pg_stat_statements installed", WARN,
                    "the extension is not installed in this database: no slow-query view",
                    "CREATE EXTENSION pg_stat_statements;  -- needs shared_preload_libraries "
                    "= 'pg_stat_statements'")  # fmt: skip
    return Item(
        "pg_stat_statements",
        "pg_stat_statements installed",
        PASS,
        f"{len(s.rows('statements'))} statements sampled",
    )


def _sizes(s: Snapshot) -> Item:
    """Seed 003's disk check, as far as SQL sees it: how big each database is."""
    rows = sorted(s.rows("database_sizes"), key=lambda r: float(r["size_bytes"]), reverse=True)
    if not rows:
        return Item("database_sizes", "database sizes known", WARN, "not collected")
    ev = ", ".join(f"{r['datname']} {float(r['size_bytes']) / 1048576:.0f} MB" for r in rows[:5])
    return Item("database_sizes", "database sizes known", PASS, ev)


def _collectors(s: Snapshot) -> Item:
    bad = [r.error for r in s.results.values() if r.error]
    return Item(
        "collectors",
        "every collector readable",
        WARN if bad else PASS,
        "; ".join(str(b) for b in bad) or f"{len(s.results)} collectors ran",
        "GRANT pg_monitor TO <the target's role>;" if bad else "",
    )
