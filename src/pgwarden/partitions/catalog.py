"""The database edge of planning: one catalog query for every managed parent.

Bounds come from `pg_inherits` + `relpartbound`, never from names, so
partitions with any name (the seed's, pg_partman's, hand-made) are adopted
as they are. Rows in default partitions are counted with one composed query
for all defaults at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from pgwarden.db.queries import Queries
from pgwarden.partitions import bounds
from pgwarden.partitions.planner import DefaultRows, Partition, TableState
from pgwarden.partitions.policy import Policy

_RANGE = re.compile(r"^FOR VALUES FROM \((.*)\) TO \((.*)\)$", re.DOTALL)
_QUOTED_RANGE = re.compile(r"^FOR VALUES FROM \('([^']*)'\) TO \('([^']*)'\)$")
_UNSEEN = object()


def read_states(
    conn: psycopg.Connection, q: Queries, policies: Sequence[Policy], *, count_default: bool = True
) -> list[TableState]:
    """The TableState of every policy's parent (one catalog round trip, one for defaults)."""
    if not policies:
        return []
    rows = conn.execute(
        q["catalog"],
        {
            "schemas": [p.table.schema for p in policies],
            "names": [p.table.name for p in policies],
        },
    ).fetchall()
    states = states_from_rows(policies, rows)
    return with_default_rows(conn, states) if count_default else states


# The catalog query's parameters for "every stored policy's parent": a run sends it in the
# same round trip as the policies themselves.
ALL_MANAGED: dict[str, None] = {"schemas": None, "names": None}


def states_from_rows(policies: Sequence[Policy], rows: Sequence[tuple]) -> list[TableState]:
    """TableStates from the catalog query's rows (any order; unknown parents ignored)."""
    by_key: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        key = (row[0], row[1])
        found = by_key.get(key)
        if found is None:
            by_key[key] = [row]
        else:
            found.append(row)
    return [_state(p, by_key.get(p.table.key, [])) for p in policies]


def _state(policy: Policy, rows: list[tuple]) -> TableState:
    if not rows or not rows[0][2]:
        return TableState(policy, exists=False)
    first = rows[0]
    strategy, key_count, key_column, key_type = first[3], first[4], first[5], first[6]
    ranged = strategy == "r" and key_count == 1 and key_column is not None
    tz = policy.tz
    parts: list[Partition] = []
    # one partition's upper bound is the next one's lower: parse each text once
    parsed: dict[str, datetime | None] = {}
    known = key_type in bounds.KEY_TYPES

    def parse(text: str, quoted: bool) -> datetime | None:
        found = parsed.get(text, _UNSEEN)
        if found is _UNSEEN:
            if quoted:
                found = bounds.parse_value(text, key_type, tz)
            else:
                found = bounds.parse_bound(text, key_type, tz)
            parsed[text] = found
        return found  # type: ignore[return-value]

    # children in name order, whatever order the server sent them in
    for row in sorted(rows, key=_child_name):
        child_schema, child_name, kind, bound, pending = row[7], row[8], row[9], row[10], row[11]
        if child_name is None:
            continue
        if bound == "DEFAULT":
            parts.append(Partition(child_schema, child_name, None, None, is_default=True))
            continue
        lower = upper = None
        if known and bound:
            # the common shape first: two quoted constants, no casts
            m = _QUOTED_RANGE.match(bound)
            if m:
                lower, upper = parse(m.group(1), True), parse(m.group(2), True)
            else:
                m = _RANGE.match(bound)
                if m:
                    lower, upper = parse(m.group(1), False), parse(m.group(2), False)
        parts.append(
            Partition(
                child_schema, child_name, lower, upper, detach_pending=bool(pending), relkind=kind
            )
        )
    return TableState(
        policy,
        exists=True,
        range_partitioned=ranged,
        key_column=key_column,
        key_type=key_type,
        partitions=tuple(parts),
    )


def _child_name(row: tuple) -> str:
    return row[8] or ""


def with_default_rows(conn: psycopg.Connection, states: list[TableState]) -> list[TableState]:
    wanted = [(i, s) for i, s in enumerate(states) if s.default is not None and s.key_column]
    if not wanted:
        return states
    parts = []
    for i, s in wanted:
        d = s.default
        assert d is not None and s.key_column is not None
        parts.append(
            sql.SQL("SELECT {i}, count(*), min({k})::text, max({k})::text FROM {t}").format(
                i=sql.Literal(i), k=sql.Identifier(s.key_column), t=sql.Identifier(d.schema, d.name)
            )
        )
    found = {r[0]: r for r in conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()}
    out = list(states)
    for i, s in wanted:
        _, count, lo, hi = found[i]
        tz, kt = s.policy.tz, s.key_type or ""
        out[i] = TableState(
            s.policy,
            s.exists,
            s.range_partitioned,
            s.key_column,
            s.key_type,
            s.partitions,
            DefaultRows(
                int(count),
                bounds.parse_value(lo, kt, tz) if lo else None,
                bounds.parse_value(hi, kt, tz) if hi else None,
            ),
        )
    return out
