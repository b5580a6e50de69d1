"""`pgwarden run`'s database watch (service/runner.py `_watch`): a connection the
server drops while it still answers is opened again and stops nothing; the watch
ends when its attempt does. (A server that is gone: tests/e2e/test_run_survives_db_restart.py.)"""

from __future__ import annotations

import threading

from pgwarden.service.runner import WATCH_TICK, _watch
from tests.e2e.waits import wait_for


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
