"""DDL statements, composed with psycopg.sql (identifiers quoted, bounds as literals).

PostgreSQL takes no bind parameters in DDL, so bound values are rendered
with `sql.Literal`, psycopg's own quoting; names always go through
`sql.Identifier`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from psycopg import sql

from pgwarden.partitions.bounds import bound_literal

CHECK_NAME = "pgwarden_bounds_check"


def ident(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def create_like(child: sql.Identifier, parent: sql.Identifier) -> sql.Composed:
    """A plain table shaped like the parent; ATTACH adds the parent's indexes."""
    return sql.SQL(
        "CREATE TABLE {child} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED)"
    ).format(child=child, parent=parent)


def bound_values(lo: datetime, hi: datetime, key_type: str, tz: ZoneInfo) -> sql.Composed:
    return sql.SQL("FROM ({lo}) TO ({hi})").format(
        lo=sql.Literal(bound_literal(lo, key_type, tz)),
        hi=sql.Literal(bound_literal(hi, key_type, tz)),
    )


def add_bounds_check(
    child: sql.Identifier, column: str, lo: datetime, hi: datetime, key_type: str, tz: ZoneInfo
) -> sql.Composed:
    """A CHECK matching the bounds: ATTACH then proves the partition constraint without a scan."""
    typ = sql.SQL(key_type)  # one of bounds.KEY_TYPES, a fixed list of type names
    return sql.SQL(
        "ALTER TABLE {child} ADD CONSTRAINT {name} CHECK ({col} IS NOT NULL AND "
        "{col} >= {lo}::{typ} AND {col} < {hi}::{typ})"
    ).format(
        child=child,
        name=sql.Identifier(CHECK_NAME),
        col=sql.Identifier(column),
        lo=sql.Literal(bound_literal(lo, key_type, tz)),
        hi=sql.Literal(bound_literal(hi, key_type, tz)),
        typ=typ,
    )


def drop_bounds_check(child: sql.Identifier) -> sql.Composed:
    return sql.SQL("ALTER TABLE {child} DROP CONSTRAINT IF EXISTS {name}").format(
        child=child, name=sql.Identifier(CHECK_NAME)
    )


def attach(
    parent: sql.Identifier,
    child: sql.Identifier,
    lo: datetime,
    hi: datetime,
    key_type: str,
    tz: ZoneInfo,
) -> sql.Composed:
    return sql.SQL("ALTER TABLE {parent} ATTACH PARTITION {child} FOR VALUES {vals}").format(
        parent=parent, child=child, vals=bound_values(lo, hi, key_type, tz)
    )


def attach_default(parent: sql.Identifier, child: sql.Identifier) -> sql.Composed:
    return sql.SQL("ALTER TABLE {parent} ATTACH PARTITION {child} DEFAULT").format(
        parent=parent, child=child
    )


def move_rows(
    source: sql.Identifier,
    target: sql.Identifier,
    column: str,
    columns: list[str],
    lo: datetime,
    hi: datetime,
    key_type: str,
    tz: ZoneInfo,
) -> sql.Composed:
    """Move the rows of [lo, hi) from `source` into `target` in one statement."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    typ = sql.SQL(key_type)
    return sql.SQL(
        "WITH moved AS (DELETE FROM {src} WHERE {col} >= {lo}::{typ} AND {col} < {hi}::{typ} "
        "RETURNING {cols}) INSERT INTO {dst} ({cols}) SELECT {cols} FROM moved"
    ).format(
        src=source,
        dst=target,
        col=sql.Identifier(column),
        lo=sql.Literal(bound_literal(lo, key_type, tz)),
        hi=sql.Literal(bound_literal(hi, key_type, tz)),
        typ=typ,
        cols=cols,
    )


def detach(parent: sql.Identifier, child: sql.Identifier, mode: str = "") -> sql.Composed:
    """mode: '' (plain), 'CONCURRENTLY' or 'FINALIZE'."""
    suffix = {
        "": sql.SQL(""),
        "CONCURRENTLY": sql.SQL(" CONCURRENTLY"),
        "FINALIZE": sql.SQL(" FINALIZE"),
    }[mode]
    return sql.SQL("ALTER TABLE {parent} DETACH PARTITION {child}{mode}").format(
        parent=parent, child=child, mode=suffix
    )


def drop_tables(children: list[sql.Identifier]) -> sql.Composed:
    return sql.SQL("DROP TABLE {names}").format(names=sql.SQL(", ").join(children))


def set_lock_timeout(seconds: float, local: bool = True) -> sql.Composed:
    ms = max(1, int(seconds * 1000))
    return sql.SQL("SET {scope} lock_timeout = {ms}").format(
        scope=sql.SQL("LOCAL") if local else sql.SQL("SESSION"), ms=sql.Literal(ms)
    )
