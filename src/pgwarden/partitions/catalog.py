"""The database edge of planning: one catalog query for every managed parent.

Bounds come from `pg_inherits` + `relpartbound`, never from names, so
partitions with any name (the seed's, pg_partman's, hand-made) are adopted
as they are. Rows in default partitions are counted with one composed query
for all defaults at once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from pgwarden.db.queries import Queries
from pgwarden.partitions import bounds
from pgwarden.partitions.planner import DefaultRows, Identity, Partition, TableState
from pgwarden.partitions.policy import Policy

_UNBOUNDED: tuple[None, None] = (None, None)
_tuple = tuple.__new__

_RANGE = re.compile(r"^FOR VALUES FROM \((.*)\) TO \((.*)\)$", re.DOTALL)
_FROM, _TO = "FOR VALUES FROM (", ") TO ("


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
            "now": None,
        },
        binary=BINARY,
    ).fetchall()
    states = states_from_rows(policies, rows)
    return with_default_rows(conn, states) if count_default else states


# The catalog query's parameters for "every stored policy's parent": a run sends it in the
# same round trip as the policies themselves, with its `now` (see `quiet`).
ALL_MANAGED: dict[str, None] = {"schemas": None, "names": None, "now": None}


def quiet(now: datetime) -> dict[str, Any]:
    """The catalog query's parameters for a run at `now`: every stored policy's parent, a
    quiet one (its stamp still holding at `now`) without its children."""
    return {**ALL_MANAGED, "now": now}


# The catalog query's rows come in binary: its five arrays per parent (a thousand children
# in all) are then neither written out as text by the server (array_out, quoting each
# element) nor parsed back by the client; the values are the same Python objects.
BINARY = True


def states_from_rows(policies: Sequence[Policy], rows: Sequence[tuple]) -> list[TableState]:
    """TableStates from the catalog query's rows (one per parent, any order; unknown parents
    ignored). Columns 7 to 11 are its children's schemas, names, kinds, bounds and
    detach-pending flags, as parallel arrays (None when it has none or is quiet); then
    whether it is quiet and what identifies it for a stamp (see `Identity`)."""
    by_key = {(row[0], row[1]): row for row in rows}
    # Parents of the same interval share their bounds (a hundred daily parents, the same
    # days): each FOR VALUES clause is read once per key type and zone, not once per child.
    clauses: dict[tuple[str, str], dict[str, tuple[datetime | None, datetime | None]]] = {}
    return [_state(p, by_key.get(p.table.key), clauses) for p in policies]


def _state(
    policy: Policy,
    row: tuple | None,
    clauses: dict[tuple[str, str], dict[str, tuple[datetime | None, datetime | None]]],
) -> TableState:
    if row is None or not row[2]:
        return TableState(policy, exists=False)
    strategy, key_count, key_column, key_type = row[3], row[4], row[5], row[6]
    schemas, names, kinds, texts, pending = row[7], row[8], row[9], row[10], row[11]
    ranged = strategy == "r" and key_count == 1 and key_column is not None
    quiet, oid, version, children, children_hash = row[12], row[13], row[14], row[15], row[16]
    identity = None  # none for a quiet parent (not read) or one read by name (no version)
    if not quiet and version is not None:
        identity = Identity(int(oid), str(version), int(children), int(children_hash))
    parts: list[Partition] = []
    if names:
        known = key_type in bounds.KEY_TYPES
        seen = clauses.setdefault((key_type or "", policy.timezone), {})
        # children in name order, whatever order the server sent them in (a name is
        # unique within a schema: ties, in two schemas, are ordered by schema). Each child
        # is built as a plain tuple: Partition's keyword defaults cost a thousand
        # children 0.2 ms more (CPython 3.11).
        children = zip(names, schemas, texts, kinds, pending, strict=True)
        for name, schema, text, kind, pend in sorted(children):
            if text == "DEFAULT":
                parts.append(Partition(schema, name, None, None, is_default=True))
                continue
            found = seen.get(text) if known and text else _UNBOUNDED
            if found is None:
                found = seen[text] = _range(text, key_type, policy.tz)
            parts.append(_tuple(Partition, (schema, name, *found, False, bool(pend), kind)))
    return TableState(
        policy,
        exists=True,
        range_partitioned=ranged,
        key_column=key_column,
        key_type=key_type,
        partitions=tuple(parts),
        quiet=bool(quiet),
        identity=identity,
    )


def _range(text: str, key_type: str, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """A FOR VALUES clause's (lower, upper) instants; None for an unbounded or unreadable end.

    The common shape first, two quoted constants with no casts: split at the quotes (a
    value with a quote in it gives more pieces and goes the general way)."""
    pieces = text.split("'")
    if len(pieces) == 5 and pieces[0] == _FROM and pieces[2] == _TO and pieces[4] == ")":
        return bounds.parse_value(pieces[1], key_type, tz), bounds.parse_value(
            pieces[3], key_type, tz
        )
    m = _RANGE.match(text)
    if m is None:
        return None, None
    return bounds.parse_bound(m.group(1), key_type, tz), bounds.parse_bound(
        m.group(2), key_type, tz
    )


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
        out[i] = dataclasses.replace(
            s,
            default_rows=DefaultRows(
                int(count),
                bounds.parse_value(lo, kt, tz) if lo else None,
                bounds.parse_value(hi, kt, tz) if hi else None,
            ),
        )
    return out
