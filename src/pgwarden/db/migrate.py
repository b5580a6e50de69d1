"""Alembic, driven from code: upgrade, downgrade, current, history.

Migrations live in `pgwarden/db/migrations` and run with our schema first on
the search_path, so their SQL names tables unqualified and the schema stays
configurable. The version table lives in our schema too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql

from pgwarden.db.conninfo import session_options, with_options

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def _config(conninfo: str, schema: str, out: io.StringIO | None = None) -> Config:
    cfg = Config(stdout=out or io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["conninfo"] = with_options(
        conninfo, options=session_options(schema), application_name="pgwarden-migrate"
    )
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(conninfo: str, schema: str, revision: str = "head") -> str | None:
    with _migration_lock(conninfo, schema):
        command.upgrade(_config(conninfo, schema), revision)
    return current(conninfo, schema)


def downgrade(conninfo: str, schema: str, revision: str) -> str | None:
    with _migration_lock(conninfo, schema):
        command.downgrade(_config(conninfo, schema), revision)
    now = current(conninfo, schema)
    if now is None:
        _drop_schema_if_only_versions(conninfo, schema)
    return now


def pending(conninfo: str, schema: str, target: str, *, down: bool = False) -> list[str]:
    """The revisions an upgrade (or downgrade) to `target` would run, in order."""
    script = ScriptDirectory.from_config(_config("", "x"))
    now = current(conninfo, schema)
    if down:
        lower = None if target == "base" else target
        revs = script.iterate_revisions(now, lower) if now else []
        return [r.revision for r in revs]
    revs = list(script.iterate_revisions(target, now))
    return [r.revision for r in reversed(revs)]


@contextmanager
def _migration_lock(conninfo: str, schema: str) -> Iterator[None]:
    """Two processes upgrading at once take turns instead of racing."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"pgwarden-migrate:{schema}"])
        yield


def current(conninfo: str, schema: str) -> str | None:
    with _sa_connection(conninfo, schema) as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table_schema": schema, "version_table": VERSION_TABLE}
        )
        return ctx.get_current_revision()


def head() -> str:
    script = ScriptDirectory.from_config(_config("", "x"))
    heads = script.get_heads()
    return heads[0]


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down_revision, first docstring line), oldest first."""
    script = ScriptDirectory.from_config(_config("", "x"))
    rows = []
    for rev in script.walk_revisions():
        down = rev.down_revision if isinstance(rev.down_revision, str | None) else None
        rows.append((rev.revision, down, (rev.doc or "").strip().splitlines()[0]))
    return list(reversed(rows))


@contextmanager
def _sa_connection(conninfo: str, schema: str) -> Iterator[Any]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    full = with_options(conninfo, options=session_options(schema))
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(full), poolclass=NullPool
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _drop_schema_if_only_versions(conninfo: str, schema: str) -> None:
    """At base, the schema holds only the version table: remove both."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname <> %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            [schema, VERSION_TABLE],
        ).fetchone()
        if left is not None and left[0] == 0:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
