"""The database edge of health: targets, stored snapshots and statement samples."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.conninfo import describe_target, mask_conninfo
from pgwarden.db.pool import Database
from pgwarden.db.queries import Queries
from pgwarden.errors import DatabaseUnavailable, InputInvalid, NotFound
from pgwarden.health.snapshot import Row, Snapshot

SELF = "self"  # the database pgwarden itself runs on; always watched unless switched off
TARGET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def queries(schema: str) -> Queries:
    return Queries("pgwarden.health", schema)


def list_targets(db: Database) -> list[dict[str, Any]]:
    """Stored targets with their DSN (callers mask it before showing it)."""
    with db.connection() as conn:
        rows = conn.execute(queries(db.schema)["list_targets"]).fetchall()
    return [{"name": r[0], "dsn": r[1], "enabled": r[2], "created_at": r[3]} for r in rows]


def check_dsn(dsn: str, timeout: float = 5.0) -> None:
    """Refuse a DSN that does not parse or connect; the message names host and port only."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise InputInvalid("dsn", mask_conninfo(dsn), "is not a valid PostgreSQL DSN") from exc
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))):
            pass
    except psycopg.OperationalError as exc:
        # libpq's messages name host, port and user, never the password
        reason = "; ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
        raise DatabaseUnavailable(describe_target(dsn), reason or type(exc).__name__) from exc


def add_target(
    db: Database, name: str, dsn: str, *, who: str = "pgwarden", check: bool = True
) -> dict[str, Any]:
    if not TARGET_NAME.match(name or ""):
        raise InputInvalid("name", name, "must be 1-64 letters, digits, '_', '.' or '-'")
    if name == SELF:
        raise InputInvalid("name", name, "is reserved for the database pgwarden runs on")
    if check:
        check_dsn(dsn)
    with db.connection() as conn:
        try:
            conn.execute(
                queries(db.schema)["insert_target"], {"name": name, "dsn": dsn, "who": who}
            )
        except psycopg.errors.UniqueViolation as exc:
            raise InputInvalid("name", name, "a target with this name exists") from exc
    return {"name": name, "dsn": mask_conninfo(dsn), "target": describe_target(dsn)}


def remove_target(db: Database, name: str) -> None:
    with db.connection() as conn:
        found = conn.execute(queries(db.schema)["delete_target"], {"name": name}).fetchone()
    if found is None:
        raise NotFound("health target", name)


def save_snapshot(db: Database, snap: Snapshot) -> None:
    params = {
        "target": snap.target, "taken_at": snap.taken_at, "up": snap.up,
        "version_num": snap.version_num, "error": snap.error, "duration": snap.duration,
        "data": Jsonb(snap.to_json()),
    }  # fmt: skip
    with db.connection() as conn:
        conn.execute(queries(db.schema)["insert_snapshot"], params)


def save_statements(db: Database, target: str, taken_at: datetime, rows: list[Row]) -> int:
    q = queries(db.schema)["insert_statement"]
    with db.connection() as conn, conn.cursor() as cur:
        cur.executemany(q, [{**r, "target": target, "taken_at": taken_at} for r in rows])
    return len(rows)


def _load(data: Any) -> Snapshot:
    return Snapshot.from_json(data if isinstance(data, dict) else json.loads(data))


def latest_snapshots(db: Database, since: datetime) -> list[Snapshot]:
    with db.connection() as conn:
        rows = conn.execute(queries(db.schema)["latest_snapshots"], {"since": since}).fetchall()
    return [_load(r[0]) for r in rows]


def snapshots(db: Database, target: str, since: datetime, until: datetime) -> list[Snapshot]:
    params = {"target": target, "since": since, "until": until}
    with db.connection() as conn:
        rows = conn.execute(queries(db.schema)["snapshots_between"], params).fetchall()
    return [_load(r[0]) for r in rows]


def snapshots_thinned(
    db: Database, target: str, since: datetime, until: datetime, stride: timedelta
) -> list[Snapshot]:
    """At most one snapshot per `stride` (the newest of each), oldest first."""
    params = {"target": target, "since": since, "until": until, "stride": stride}
    with db.connection() as conn:
        rows = conn.execute(queries(db.schema)["snapshots_thinned"], params).fetchall()
    return [_load(r[0]) for r in rows]


def summaries(db: Database, target: str, since: datetime, until: datetime) -> list[dict]:
    params = {"target": target, "since": since, "until": until}
    with db.connection() as conn:
        cur = conn.execute(queries(db.schema)["snapshot_summaries"], params)
        cols = [d.name for d in cur.description or ()]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def statement_samples(
    db: Database, target: str, since: datetime, until: datetime
) -> list[list[dict[str, Any]]]:
    """Every stored sample of a window, oldest first, rows keyed like the collector's."""
    q = queries(db.schema)
    out: list[list[dict[str, Any]]] = []
    with db.connection() as conn:
        times = [
            r[0]
            for r in conn.execute(
                q["statement_sample_times"], {"target": target, "since": since, "until": until}
            ).fetchall()
        ]
        for t in times:
            cur = conn.execute(q["statement_sample"], {"target": target, "taken_at": t})
            cols = [d.name for d in cur.description or ()]
            out.append([dict(zip(cols, r, strict=True)) for r in cur.fetchall()])
    return out
