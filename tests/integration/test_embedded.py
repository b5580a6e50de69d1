"""The embedded server's lifecycle: reuse, and recovery after an unclean stop."""

import os
import signal
import time

import psycopg

from pgwarden.db.embedded import EmbeddedServer


def test_start_reuses_a_running_server_and_recovers_after_kill_9(server_dir, pg_bin):
    server = EmbeddedServer(server_dir / "pg", bin_dir=pg_bin)
    conninfo = server.start()
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        first_pid = server.status().pid
        assert server.start() == conninfo and server.status().pid == first_pid  # reused

        os.kill(first_pid, signal.SIGKILL)  # an unclean stop: postmaster.pid stays behind
        deadline = time.monotonic() + 30
        while server.status().running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (server.pgdata / "postmaster.pid").exists()

        again = server.start()
        assert server.status().running and server.status().pid != first_pid
        with psycopg.connect(again) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == (42,)
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            assert "pg_stat_statements" in preload
            listen = conn.execute("SHOW listen_addresses").fetchone()[0]
            assert listen == ""  # Unix socket only
    finally:
        server.stop()
    assert not server.status().running
