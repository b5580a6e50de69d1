"""Bounded per-table and per-index detail: per-parent roll-ups, top-K leaves, one `__other__`.

Every table is counted exactly once in the output, so a `sum()` over any
table family still equals the database total:

- a table that is not a partition stands for itself;
- the K leaves of each partitioned parent that matter most (dead tuples,
  then size, then activity) stand for themselves, kind `leaf`;
- the other leaves of that parent are summed into one entity named after
  the parent, kind `parent`, with `partitions` = how many it holds;
- when there are more entities than `max_entities`, the lowest-ranked go
  into one entity `__other__` (kind `other`).

Pure functions over rows; nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pgwarden.health.snapshot import Row

OTHER = "__other__"

TABLE_SUMS = (
    "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd",
    "n_tup_del", "n_tup_hot_upd", "n_live_tup", "n_dead_tup", "n_mod_since_analyze",
    "n_ins_since_vacuum", "vacuum_count", "autovacuum_count", "analyze_count",
    "autoanalyze_count", "heap_blks_read", "heap_blks_hit", "idx_blks_read", "idx_blks_hit",
    "toast_blks_read", "toast_blks_hit", "tidx_blks_read", "tidx_blks_hit", "est_bytes",
    "table_bytes", "indexes_bytes",
)  # fmt: skip
TABLE_LATEST = ("last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze")
INDEX_SUMS = ("idx_scan", "idx_tup_read", "idx_tup_fetch", "idx_blks_read", "idx_blks_hit",
              "est_bytes", "index_bytes")  # fmt: skip


def _num(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    return float(v) if v is not None else 0.0


def table_size(row: Mapping[str, Any]) -> float:
    """Exact size when the slow collector measured it, else the relpages estimate."""
    exact = row.get("table_bytes")
    return float(exact) if exact is not None else _num(row, "est_bytes")


def _table_rank(row: Mapping[str, Any]) -> tuple[float, ...]:
    return (
        _num(row, "n_dead_tup"),
        table_size(row),
        _num(row, "seq_scan") + _num(row, "idx_scan"),
    )


def merge_sizes(tables: Sequence[Row], indexes: Sequence[Row], sizes: Sequence[Row]) -> None:
    """Attach exact sizes (from the slow `sizes` collector) to table and index rows in place."""
    by_id = {int(s["relid"]): s for s in sizes}
    for t in tables:
        s = by_id.get(int(t["relid"]))
        if s is not None:
            t["table_bytes"] = s.get("table_bytes")
            t["indexes_bytes"] = s.get("indexes_bytes")
    for i in indexes:
        s = by_id.get(int(i["indexrelid"]))
        if s is not None:
            i["index_bytes"] = s.get("relation_bytes")
        owner = by_id.get(int(i["relid"]))
        if owner is not None:
            i["table_bytes"] = owner.get("relation_bytes")


def _sum_into(target: Row, row: Mapping[str, Any], sums: Iterable[str]) -> None:
    for k in sums:
        v = row.get(k)
        if v is None:
            continue
        target[k] = (target.get(k) or 0) + float(v)


def _aggregate(name_schema: str, name: str, kind: str, rows: Sequence[Row]) -> Row:
    agg: Row = {"schemaname": name_schema, "relname": name, "kind": kind, "partitions": len(rows)}
    for r in rows:
        _sum_into(agg, r, TABLE_SUMS)
        for k in TABLE_LATEST:
            agg[k] = max(float(agg.get(k) or 0), _num(r, k))
    if all(r.get("table_bytes") is None for r in rows):
        agg["table_bytes"] = None
        agg["indexes_bytes"] = None
    return agg


def condense_tables(rows: Sequence[Row], *, top_k: int, max_entities: int) -> list[Row]:
    """Table rows -> at most `max_entities` entities (plus `__other__`), each table once."""
    standalone: list[Row] = []
    families: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        if r.get("relkind") == "p":
            continue  # a partitioned parent holds no rows itself; its leaves are summed
        if r.get("is_partition") and r.get("root_name"):
            families.setdefault((r["root_schema"], r["root_name"]), []).append(r)
        else:
            standalone.append(
                {**r, "kind": r.get("kind", "table"), "partitions": r.get("partitions", 0)}
            )
    parents: list[Row] = []
    leaves: list[Row] = []
    for (schema, parent), members in families.items():
        ranked = sorted(members, key=_table_rank, reverse=True)
        top = ranked[: max(0, top_k)]
        rest = ranked[len(top) :]
        for leaf in top:
            leaves.append({**leaf, "kind": "leaf", "parent": f"{schema}.{parent}", "partitions": 0})
        agg = _aggregate(schema, parent, "parent", rest)
        agg["leaves"] = len(members)
        parents.append(agg)
    # Parents first (one per partitioned table is the point of the roll-up), then the
    # rest by rank; what does not fit goes to __other__.
    parents.sort(key=_table_rank, reverse=True)
    others = sorted(standalone + leaves, key=_table_rank, reverse=True)
    ordered = parents + others
    limit = max(0, max_entities)
    kept, spill = ordered[:limit], ordered[limit:]
    if spill:
        flat: list[Row] = []
        for e in spill:
            flat.append(e)
        other = _aggregate(OTHER, OTHER, "other", flat)
        other["partitions"] = sum(int(e.get("partitions") or 0) or 1 for e in spill)
        kept.append(other)
    return kept


def condense_indexes(rows: Sequence[Row], *, max_entities: int) -> list[Row]:
    """Index rows -> the `max_entities` busiest or biggest, the rest summed into `__other__`."""

    def rank(r: Mapping[str, Any]) -> tuple[float, float]:
        size = r.get("index_bytes")
        return (
            _num(r, "idx_blks_hit") + _num(r, "idx_blks_read"),
            float(size) if size is not None else _num(r, "est_bytes"),
        )

    ordered = sorted(rows, key=rank, reverse=True)
    limit = max(0, max_entities)
    kept = [
        {k: r.get(k) for k in ("schemaname", "relname", "indexrelname", *INDEX_SUMS)}
        for r in ordered[:limit]
    ]
    spill = ordered[limit:]
    if spill:
        other: Row = {"schemaname": OTHER, "relname": OTHER, "indexrelname": OTHER,
                      "indexes": len(spill)}  # fmt: skip
        for r in spill:
            _sum_into(other, r, INDEX_SUMS)
        kept.append(other)
    return kept


def parent_totals(rows: Sequence[Row]) -> list[Row]:
    """Per partitioned parent: leaves, live and dead tuples, size (for pgwarden_db_partition_*)."""
    out: dict[tuple[str, str], Row] = {}
    for r in rows:
        if not (r.get("is_partition") and r.get("root_name")):
            continue
        key = (r["root_schema"], r["root_name"])
        agg = out.setdefault(
            key,
            {"schemaname": key[0], "relname": key[1], "partitions": 0, "n_live_tup": 0.0,
             "n_dead_tup": 0.0, "bytes": 0.0},
        )  # fmt: skip
        agg["partitions"] += 1
        agg["n_live_tup"] += _num(r, "n_live_tup")
        agg["n_dead_tup"] += _num(r, "n_dead_tup")
        agg["bytes"] += table_size(r)
    return sorted(out.values(), key=lambda a: (a["schemaname"], a["relname"]))
