"""The connection pool and the `Database` handle every feature receives.

A pool is created closed, opened explicitly and waited on, so a bad DSN
fails at start with a message naming host and port (psycopg_pool's habit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from pgwarden.db.conninfo import describe_target, session_options, with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.errors import DatabaseUnavailable
from pgwarden.settings import Settings

log = logging.getLogger(__name__)


def first_connection(conninfo: str, timeout: float) -> psycopg.Connection:
    """Connect once, turning a bad DSN into a readable error before any pool exists."""
    try:
        return psycopg.Connection.connect(conninfo, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        reason = "; ".join(lines) or type(exc).__name__
        raise DatabaseUnavailable(describe_target(conninfo), reason) from exc


def check_reachable(conninfo: str, timeout: float) -> None:
    """Connect once to turn a bad DSN into a readable error; nothing is kept."""
    first_connection(conninfo, timeout).close()


def _reusing(first: psycopg.Connection) -> type[psycopg.Connection]:
    """A connection class whose first `connect` hands over `first`.

    The connection that proved the DSN good becomes the pool's first one, so
    a short-lived process (a cron-started `pgwarden partitions run`) connects
    to the server once, not twice. Later connects are ordinary.
    """
    spare = [first]

    class Reusing(psycopg.Connection):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Reusing:
            try:
                return spare.pop()  # type: ignore[return-value]
            except IndexError:
                return super().connect(conninfo, **kwargs)

    return Reusing


def pooled_conninfo(conninfo: str, schema: str, name: str) -> str:
    """A pooled connection's conninfo: our schema first on the search_path, our name."""
    return with_options(conninfo, options=session_options(schema), application_name=name)


def open_pool(
    conninfo: str,
    schema: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 10.0,
    name: str = "pgwarden",
) -> ConnectionPool:
    """Open a pool whose connections have our schema first on the search_path."""
    full = pooled_conninfo(conninfo, schema, name)
    first = first_connection(full, timeout)
    if min_size < 1:
        first.close()  # a pool that opens empty would never take it
    pool = ConnectionPool(
        full,
        connection_class=_reusing(first) if min_size >= 1 else psycopg.Connection,
        min_size=min_size,
        max_size=max(max_size, min_size, 1),
        timeout=timeout,
        name=name,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except PoolTimeout as exc:
        pool.close()
        raise DatabaseUnavailable(
            describe_target(conninfo), f"no connection within {timeout:.1f} sec"
        ) from exc
    return pool


@contextmanager
def autocommit(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The connection in autocommit mode for the block (a client-side switch, no round trip).

    A pooled connection is not in autocommit, so reads otherwise open a
    transaction whose COMMIT, at the pool's put-back, is a round trip of its
    own. Pipelined statements up to a sync still run as one implicit transaction.
    """
    was = conn.autocommit
    conn.autocommit = True
    try:
        yield conn
    finally:
        if not conn.closed:
            conn.autocommit = was


def read_alone(conn: psycopg.Connection, query: Any, params: Any = None) -> list[Any]:
    """The rows of one read, in one round trip: a pooled connection is not in autocommit,
    so a lone statement otherwise costs three (BEGIN, the statement, COMMIT)."""
    with autocommit(conn):
        return conn.execute(query, params).fetchall()


class DirectPool:
    """A pool without background threads, for a short-lived process.

    psycopg_pool's pool starts worker and scheduler threads, hands its first
    connection over through one of them and joins them at close: a few
    milliseconds, and many more on a loaded machine, for a cron-started
    `pgwarden partitions run` whose whole work is a few round trips. This
    one connects in the calling thread when it has no idle connection, keeps
    up to `max_size` idle ones, and applies the same connection-block rule as
    psycopg_pool (commit on success, roll back on error, a broken connection
    dropped). Long-running processes (workers, the API) keep psycopg_pool.
    """

    def __init__(
        self,
        conninfo: str,
        first: psycopg.Connection,
        *,
        max_size: int,
        name: str,
        timeout: float = 10.0,
    ) -> None:
        self.conninfo = conninfo
        self.timeout = timeout
        self.name = name
        self.max_size = max(1, max_size)
        self._idle: list[psycopg.Connection] = [first]
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        if self._closed:
            raise DatabaseUnavailable(describe_target(self.conninfo), "the pool is closed")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = first_connection(self.conninfo, timeout or self.timeout)
        try:
            yield conn
            if conn.info.transaction_status == TransactionStatus.INTRANS:
                conn.commit()
        finally:
            self._put_back(conn)  # rolls back what an error left open

    def _put_back(self, conn: psycopg.Connection) -> None:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                conn.rollback()
        usable = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if usable and not self._closed and len(self._idle) < self.max_size:
                self._idle.append(conn)
                return
        conn.close()

    def check(self) -> None:
        """Drop idle connections that no longer answer."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                conn.close()
                continue
            self._put_back(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


@dataclass
class Database:
    """What a feature needs to talk to PostgreSQL: the pool, our schema, the target."""

    conninfo: str
    schema: str
    embedded: bool
    data_dir: Path | None
    pool: ConnectionPool | DirectPool
    settings: Settings
    _closed: bool = field(default=False, repr=False)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        with self.pool.connection(timeout=timeout) as conn:
            yield conn

    def reopen(self) -> None:
        """A fresh pool once the server answers again after it was lost.

        psycopg_pool retries a failed connection with an exponential back-off
        that has no ceiling below its reconnect timeout: after half a minute
        without a server its next attempt could be half a minute away, so a
        restarted server sat unused that long. Callers read `self.pool` on
        every use, so swapping it is enough; connections still out of the old
        pool are closed when they come back.
        """
        if isinstance(self.pool, DirectPool):
            self.pool.check()
            return
        old = self.pool
        self.pool = open_pool(
            self.conninfo,
            self.schema,
            min_size=self.settings.pool_min_size,
            max_size=self.settings.pool_max_size,
            timeout=self.settings.pool_timeout,
            name=old.name,
        )
        old.close(timeout=1.0)

    def fail_waiters(self) -> None:
        """Close a long-lived process's pool (psycopg_pool) once its server is known lost:
        a caller waiting for a connection, and every later one, fails at once with
        PoolClosed (an OperationalError) instead of waiting out `pool_timeout` (10 s,
        and again at its next try), until `reopen` gives a new pool. A job thread
        cannot be interrupted, so a worker's stop waited for each such wait: 19-45 s
        where 7 would do. A `DirectPool` (one-shot commands) is left alone."""
        if isinstance(self.pool, ConnectionPool):
            with suppress(Exception):
                self.pool.close(timeout=0)

    def session_conninfo(self, name: str = "pgwarden") -> str:
        """A conninfo for a dedicated connection (LISTEN, locks, procrastinate)."""
        return with_options(
            self.conninfo, options=session_options(self.schema), application_name=name
        )

    def close(self) -> None:
        if not self._closed:
            self.pool.close()
            self._closed = True

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_conninfo(settings: Settings, bin_dir: Path | None = None) -> str:
    """The conninfo to use: the DSN, the PG* environment, or the embedded server."""
    if settings.dsn is not None:
        return settings.dsn.get_secret_value()
    if not settings.uses_embedded:
        return ""  # libpq reads PGHOST, PGPORT, ... itself
    return EmbeddedServer(settings.data_dir, bin_dir).start()


def connect(
    settings: Settings,
    *,
    name: str = "pgwarden",
    bin_dir: Path | None = None,
    short_lived: bool = False,
) -> Database:
    """The Database handle; `short_lived` (a one-shot command) gets a `DirectPool`."""
    conninfo = resolve_conninfo(settings, bin_dir)
    pool: ConnectionPool | DirectPool
    if short_lived:
        full = pooled_conninfo(conninfo, settings.schema_name, name)
        first = first_connection(full, settings.pool_timeout)
        pool = DirectPool(
            full, first, max_size=settings.pool_max_size, name=name, timeout=settings.pool_timeout
        )
    else:
        pool = open_pool(
            conninfo,
            settings.schema_name,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            name=name,
        )
    return Database(
        conninfo=conninfo,
        schema=settings.schema_name,
        embedded=settings.uses_embedded,
        data_dir=settings.data_dir if settings.uses_embedded else None,
        pool=pool,
        settings=settings,
    )
