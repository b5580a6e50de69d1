"""`pgwarden run`'s database watch (service/runner.py `_watch`): a connection the
server drops while it still answers is opened again and stops nothing; the watch
ends when its attempt does; a stop ends the worker's wait to open its job queue.
(A server that is gone: tests/e2e/test_run_survives_db_restart.py.)"""

from __future__ import annotations

import asyncio
import threading
import time

import procrastinate

from pgwarden.service.runner import WATCH_TICK, _watch
from pgwarden.service.worker import _close, _open
from tests.e2e.waits import free_port, wait_for


def _watch_pids(conn) -> set[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgwarden-watch'"
    ).fetchall()
    return {r[0] for r in rows}


def test_a_dropped_watch_connection_is_opened_again_and_stops_nothing(services, conn):
    conn.autocommit = True
    attempt, lost = threading.Event(), threading.Event()
    thread = threading.Thread(target=_watch, args=(services, attempt, lost), daemon=True)
    thread.start()
    try:
        first = wait_for(lambda: _watch_pids(conn), 10, "the watch's connection")
        (pid,) = first
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        second = wait_for(lambda: _watch_pids(conn) - first, 10, "the watch's new connection")
        assert len(second) == 1
        assert not lost.is_set() and not attempt.is_set()
    finally:
        attempt.set()
        thread.join(timeout=WATCH_TICK * 4)
    assert not thread.is_alive(), "the watch did not end with its attempt"
    assert not lost.is_set()
    wait_for(lambda: not _watch_pids(conn), 10, "the watch's connection closed")


def test_a_stop_ends_the_job_queues_open_against_a_dead_server():
    """procrastinate waits 30 s for its pool's first connection; a stop ends that wait."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=f"host=127.0.0.1 port={free_port()} dbname=x user=x connect_timeout=1"
        )
    )
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    opened = asyncio.run(_open(app, stop))
    took = time.monotonic() - started
    assert opened is False
    assert took < 3, f"the open went on {took:.1f} s after the stop"


def test_the_job_queue_opens_and_closes_on_a_live_server(db_conninfo):
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db_conninfo))

    async def open_query_close() -> list:
        assert await _open(app, threading.Event())
        rows = await app.connector.execute_query_all_async("SELECT 1 AS one")
        await _close(app)
        return rows

    assert asyncio.run(open_query_close()) == [{"one": 1}]
