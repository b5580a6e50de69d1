"""Raw collector rows -> the compact snapshot that is cached, stored and served (pure).

Full per-table and per-index rows exist only during a round: findings are
computed from them, then they are condensed (roll-ups, top-K, `__other__`)
so a 2,000-partition catalog stores and serves tens of entities.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgwarden.health import findings, rollup
from pgwarden.health.snapshot import Result, Row, Snapshot


@dataclass(frozen=True)
class Condense:
    top_k_per_parent: int = 3
    max_tables: int = 60
    max_indexes: int = 60
    statements_keep: int = 50
    bloat_min_bytes: float = findings.BLOAT_MIN_INDEX_BYTES
    large_index_bytes: float = findings.LARGE_INDEX_BYTES


def condense(snap: Snapshot, how: Condense = Condense()) -> Snapshot:
    """Add derived results (index_findings, vacuum_debt, partition_parents) and shrink rows.

    Mutates and returns `snap`. Derived results take the time of the rows they
    come from.
    """
    if not snap.up:
        return snap
    tables = [dict(r) for r in snap.rows("tables")]
    indexes = [dict(r) for r in snap.rows("indexes")]
    sizes = snap.rows("sizes")
    rollup.merge_sizes(tables, indexes, sizes)
    server = snap.one("server")
    datname = server.get("datname")
    now = float(server.get("now") or snap.taken_at.timestamp())
    stats_reset = next(
        (float(r["stats_reset"]) for r in snap.rows("database") if r["datname"] == datname), 0.0
    )
    settings = snap.settings()
    t_res, i_res = snap.results.get("tables"), snap.results.get("indexes")
    if i_res is not None and i_res.ok:
        found = findings.index_findings(
            indexes,
            stats_reset=stats_reset,
            bloat_min_bytes=how.bloat_min_bytes,
            large_bytes=how.large_index_bytes,
        )
        snap.results["index_findings"] = Result([found], i_res.taken_at)
        i_res.rows = rollup.condense_indexes(indexes, max_entities=how.max_indexes)
    if t_res is not None and t_res.ok:
        snap.results["vacuum_debt"] = Result(
            findings.vacuum_debt(tables, settings, now), t_res.taken_at
        )
        snap.results["partition_parents"] = Result(rollup.parent_totals(tables), t_res.taken_at)
        t_res.rows = rollup.condense_tables(
            tables, top_k=how.top_k_per_parent, max_entities=how.max_tables
        )
    s_res = snap.results.get("sizes")
    if s_res is not None and s_res.rows:
        s_res.rows = []  # merged into the table and index entities above
    st = snap.results.get("statements")
    if st is not None and st.ok:
        st.rows = sorted(st.rows, key=_exec_time, reverse=True)[: how.statements_keep]
    return snap


def _exec_time(r: Row) -> float:
    return float(r.get("total_exec_time") or 0)
