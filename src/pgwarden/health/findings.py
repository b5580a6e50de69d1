"""Findings from collector rows: lock chains, index problems, vacuum debt (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pgwarden.health.rollup import table_size
from pgwarden.health.snapshot import Row

BLOAT_MIN_INDEX_BYTES = 1 << 20  # an index under 1 MiB bigger than its table is noise
LARGE_INDEX_BYTES = 100 << 20  # seed 003 section 3.3: indexes over 100 MB are listed
MAX_LISTED = 50  # findings of one kind kept per snapshot


# -- locks -------------------------------------------------------------------


@dataclass(frozen=True)
class LockWait:
    pid: int
    blockers: tuple[int, ...]
    roots: tuple[int, ...]  # sessions at the head of the chain: blocking, not blocked
    depth: int  # 1 = blocked directly by a root
    wait_seconds: float
    datname: str | None
    relation: str | None
    mode: str | None
    locktype: str | None
    query: str | None
    root_queries: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_chains(rows: Sequence[Row]) -> list[LockWait]:
    """Each waiting session with its blockers, its root blocker(s) and its depth.

    A deadlock cycle (each waits on the next) has no unblocked session; the
    lowest pid of the cycle is named its root, as PostgreSQL will cancel one.
    """
    by_pid = {int(r["pid"]): r for r in rows}
    blockers = {pid: tuple(int(b) for b in (r.get("blockers") or [])) for pid, r in by_pid.items()}
    out: list[LockWait] = []
    for pid, bl in blockers.items():
        if not bl:
            continue
        roots: set[int] = set()
        depth = 0
        frontier = set(bl)
        seen = {pid}
        while frontier:
            depth += 1
            nxt: set[int] = set()
            for b in frontier:
                if b in seen:
                    continue
                seen.add(b)
                up = blockers.get(b, ())
                if up:
                    nxt.update(up)
                else:
                    roots.add(b)
            frontier = nxt - seen
        if not roots:
            roots = {min(seen - {pid} or {pid})}
        r = by_pid[pid]
        out.append(
            LockWait(
                pid=pid, blockers=bl, roots=tuple(sorted(roots)), depth=max(1, depth),
                wait_seconds=float(r.get("wait_seconds") or 0.0), datname=r.get("datname"),
                relation=r.get("relation"), mode=r.get("mode"), locktype=r.get("locktype"),
                query=r.get("query"),
                root_queries=tuple(str(by_pid[x].get("query") or "") for x in sorted(roots)
                                   if x in by_pid),
            )
        )  # fmt: skip
    out.sort(key=lambda w: w.wait_seconds, reverse=True)
    return out


# -- indexes -----------------------------------------------------------------


def _index_bytes(r: Mapping[str, Any]) -> float:
    v = r.get("index_bytes")
    return float(v) if v is not None else float(r.get("est_bytes") or 0)


def _table_bytes(r: Mapping[str, Any]) -> float:
    v = r.get("table_bytes")
    return float(v) if v is not None else float(r.get("table_est_bytes") or 0)


def _name(r: Mapping[str, Any]) -> str:
    return f"{r['schemaname']}.{r['indexrelname']}"


def _facts(r: Mapping[str, Any], stats_reset: float) -> dict[str, Any]:
    keeps = [
        why
        for flag, why in (
            ("is_primary", "primary key"),
            ("is_unique", "unique"),
            ("is_replica_identity", "replica identity"),
            ("backs_constraint", "backs a constraint"),
        )
        if r.get(flag)
    ]
    return {
        "index": _name(r),
        "table": f"{r['schemaname']}.{r['relname']}",
        "idx_scan": int(r.get("idx_scan") or 0),
        "index_bytes": _index_bytes(r),
        "table_bytes": _table_bytes(r),
        "primary": bool(r.get("is_primary")),
        "unique": bool(r.get("is_unique")),
        "replica_identity": bool(r.get("is_replica_identity")),
        "backs_constraint": bool(r.get("backs_constraint")),
        "stats_reset": stats_reset,
        "last_idx_scan": float(r.get("last_idx_scan") or 0),
        "safe_to_drop": not keeps,
        "keep_because": keeps,
    }


def _drop_sql(r: Mapping[str, Any]) -> str:
    return f'DROP INDEX CONCURRENTLY "{r["schemaname"]}"."{r["indexrelname"]}";'


def index_findings(
    rows: Sequence[Row],
    *,
    stats_reset: float,
    bloat_min_bytes: float = BLOAT_MIN_INDEX_BYTES,
    large_bytes: float = LARGE_INDEX_BYTES,
    limit: int = MAX_LISTED,
) -> dict[str, Any]:
    """unused / duplicate / invalid / bloated / large indexes, each with its facts and SQL.

    `stats_reset` (unix seconds, 0 = never) says since when `idx_scan = 0` holds:
    an index unused since a reset an hour ago is not yet a candidate.
    """
    unused, invalid, bloated, large = [], [], [], []
    for r in rows:
        facts = _facts(r, stats_reset)
        if not r.get("is_valid", True) or not r.get("is_ready", True):
            invalid.append({**facts, "fix": f'REINDEX INDEX CONCURRENTLY "{r["schemaname"]}".'
                                            f'"{r["indexrelname"]}";'})  # fmt: skip
            continue
        if int(r.get("idx_scan") or 0) == 0:
            fix = _drop_sql(r) if facts["safe_to_drop"] else None
            unused.append({**facts, "fix": fix})
        ib, tb = _index_bytes(r), _table_bytes(r)
        if ib > tb and ib >= bloat_min_bytes:
            bloated.append(
                {**facts, "ratio": ib / tb if tb else None,
                 "fix": f'REINDEX INDEX CONCURRENTLY "{r["schemaname"]}"."{r["indexrelname"]}";'}
            )  # fmt: skip
        if ib >= large_bytes:
            large.append(facts)
    groups: dict[str, list[Row]] = {}
    for r in rows:
        sig = r.get("signature")
        if sig:
            groups.setdefault(str(sig), []).append(r)
    duplicate = []
    for members in groups.values():
        if len(members) < 2:
            continue
        # keep the one a constraint needs (or the first by name); the others are redundant
        keep = sorted(
            members,
            key=lambda m: (not m.get("is_primary"), not m.get("backs_constraint"),
                           not m.get("is_unique"), m["indexrelname"]),
        )[0]  # fmt: skip
        for m in members:
            if m is keep:
                continue
            facts = _facts(m, stats_reset)
            duplicate.append(
                {**facts, "duplicate_of": _name(keep),
                 "fix": _drop_sql(m) if facts["safe_to_drop"] else None}
            )  # fmt: skip
    by_size = lambda f: f["index_bytes"]  # noqa: E731
    return {
        "unused": sorted(unused, key=by_size, reverse=True)[:limit],
        "unused_count": len(unused),
        "duplicate": sorted(duplicate, key=by_size, reverse=True)[:limit],
        "invalid": invalid[:limit],
        "bloated": sorted(bloated, key=by_size, reverse=True)[:limit],
        "large": sorted(large, key=by_size, reverse=True)[:limit],
    }


# -- vacuum ------------------------------------------------------------------


def vacuum_debt(
    rows: Sequence[Row],
    settings: Mapping[str, float],
    now: float,
    *,
    limit: int = MAX_LISTED,
) -> list[dict[str, Any]]:
    """Tables whose dead tuples passed their autovacuum trigger, worst first.

    Trigger = autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor x live
    tuples (the server's own rule). `since_vacuum` is seconds since the last
    (auto)vacuum, None when never vacuumed (not "56 years ago").
    """
    threshold = settings.get("autovacuum_vacuum_threshold", 50.0)
    scale = settings.get("autovacuum_vacuum_scale_factor", 0.2)
    out: list[dict[str, Any]] = []
    for r in rows:
        if r.get("relkind") == "p":
            continue
        dead = float(r.get("n_dead_tup") or 0)
        live = float(r.get("n_live_tup") or 0)
        trigger = threshold + scale * live
        if dead <= trigger:
            continue
        last = max(float(r.get("last_vacuum") or 0), float(r.get("last_autovacuum") or 0))
        name = f"{r['schemaname']}.{r['relname']}"
        out.append(
            {
                "table": name, "n_dead_tup": dead, "n_live_tup": live,
                "dead_ratio": dead / (dead + live) if dead + live else 0.0,
                "trigger": trigger, "since_vacuum": (now - last) if last else None,
                "autovacuum_disabled": bool(r.get("autovacuum_disabled")),
                "bytes": table_size(r),
                "fix": f'VACUUM (ANALYZE) "{r["schemaname"]}"."{r["relname"]}";',
            }
        )  # fmt: skip
    out.sort(key=lambda d: d["n_dead_tup"] - d["trigger"], reverse=True)
    return out[:limit]
