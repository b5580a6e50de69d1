"""Alembic, driven from code: upgrade, downgrade, current, history.

Migrations live in `pgwarden/db/migrations` and run with our schema first on
the search_path, so their SQL names tables unqualified and the schema stays
configurable. The version table lives in our schema too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from pgwarden.db.conninfo import session_options, with_options
from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic and SQLAlchemy take about a second to import: they load only for
# commands that migrate. Checking the revision (every command does) uses
# `stored_revision` and `head` below, which need neither.

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def _config(conninfo: str, schema: str, out: io.StringIO | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(stdout=out or io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["conninfo"] = with_options(
        conninfo, options=session_options(schema), application_name="pgwarden-migrate"
    )
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(conninfo: str, schema: str, revision: str = "head") -> str | None:
    from alembic import command

    with _migration_lock(conninfo, schema):
        command.upgrade(_config(conninfo, schema), revision)
    return current(conninfo, schema)


def downgrade(conninfo: str, schema: str, revision: str) -> str | None:
    from alembic import command

    with _migration_lock(conninfo, schema):
        command.downgrade(_config(conninfo, schema), revision)
    now = current(conninfo, schema)
    if now is None:
        _drop_schema_if_only_versions(conninfo, schema)
    return now


def pending(conninfo: str, schema: str, target: str, *, down: bool = False) -> list[str]:
    """The revisions an upgrade (or downgrade) to `target` would run, in order."""
    from alembic.script import ScriptDirectory

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
        conn.execute(
            Queries("pgwarden.db")["migration_lock"], {"key": f"pgwarden-migrate:{schema}"}
        )
        yield


def current(conninfo: str, schema: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with _sa_connection(conninfo, schema) as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table_schema": schema, "version_table": VERSION_TABLE}
        )
        return ctx.get_current_revision()


_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*(?:"([^"]+)"|None)', re.MULTILINE)


@cache
def head() -> str:
    """The newest revision, read from the migration files (no Alembic import)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN.search(text)
        if rev:
            revisions.add(rev.group(1))
        if down and down.group(1):
            downs.add(down.group(1))
    heads = sorted(revisions - downs)
    if len(heads) != 1:
        raise RuntimeError(f"migrations must form one line; heads found: {heads}")
    return heads[0]


def stored_revision(conn: psycopg.Connection, schema: str) -> str | None:
    """The revision recorded in the schema's version table, or None (cheap)."""
    q = Queries("pgwarden.db", schema)
    exists = conn.execute(
        q["relation_exists"], {"name": sql.Identifier(schema, VERSION_TABLE).as_string(conn)}
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(
        q.with_names("stored_revision", version_table=sql.Identifier(VERSION_TABLE))
    ).fetchone()
    return row[0] if row else None


def check_revision(
    schema: str, stored: str | None, wanted: str, cause: BaseException | None = None
) -> None:
    """Raise PgwardenError, naming both revisions and the fix, when `stored` is not `wanted`."""
    if stored != wanted:
        raise PgwardenError(
            f"schema {schema!r} is at revision {stored or 'none'} but this pgwarden needs "
            f"{wanted}; run `pgwarden db upgrade`"
        ) from cause


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down_revision, first docstring line), oldest first."""
    from alembic.script import ScriptDirectory

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
        q = Queries("pgwarden.db", schema)
        left = conn.execute(
            q["relations_besides"], {"schema_name": schema, "except": VERSION_TABLE}
        ).fetchone()
        if left is not None and left[0] == 0:
            conn.execute(q["drop_schema"])
