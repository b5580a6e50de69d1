from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from pgwarden.health import edge as collect
from pgwarden.health.snapshot import Snapshot


@pytest.fixture
def autocommit(db_conninfo: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_conninfo, autocommit=True) as c:
        yield c


def flush_stats(conn: psycopg.Connection) -> None:
    """Make this session's pending table statistics visible to other sessions now."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")


@pytest.fixture
def snap(db_conninfo: str) -> Callable[..., Snapshot]:
    """A fresh, forced round against this test's database."""

    def take(dsn: str | None = None, **cfg: object) -> Snapshot:
        return collect.collect_round(
            "self", dsn or db_conninfo, collect.TargetState(), collect.RoundConfig(**cfg),  # type: ignore[arg-type]
            force=True,
        )  # fmt: skip

    return take


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


class Blocked:
    """Run a statement in a thread on its own connection (it may block on a lock)."""

    def __init__(self, conninfo: str, statement: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=False)
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except BaseException as exc:  # cancelled at teardown
            self.error = exc

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.cancel()
        self.thread.join(timeout=5)
        self.conn.close()
