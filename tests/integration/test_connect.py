import pytest

from pgwarden.db.pool import connect
from pgwarden.errors import DatabaseUnavailable
from tests.conftest import make_settings


def test_bad_dsn_names_host_and_port_but_never_the_password():
    s = make_settings("postgresql://bob:topsecret@127.0.0.1:1/nowhere", connect_timeout=2)
    with pytest.raises(DatabaseUnavailable) as exc:
        connect(s)
    text = str(exc.value)
    assert "127.0.0.1:1" in text and "topsecret" not in text and "PGWARDEN_DSN" in text


def test_pool_sessions_have_our_schema_utc_and_no_jit(database):
    with database.connection() as conn:
        path = conn.execute("SHOW search_path").fetchone()[0]
        tz = conn.execute("SHOW timezone").fetchone()[0]
        jit = conn.execute("SHOW jit").fetchone()[0]
    assert path == '"pgwarden",public' and tz == "UTC" and jit == "off"


def test_server_preloads_pg_stat_statements(database):
    with database.connection() as conn:
        assert "pg_stat_statements" in conn.execute("SHOW shared_preload_libraries").fetchone()[0]


def test_opening_a_database_connects_to_the_server_once(db_conninfo, monkeypatch):
    # the connection that proves the DSN good becomes the pool's first (a cron-started
    # `pgwarden partitions run` pays for one connect, not two)
    import psycopg

    calls = []
    real = psycopg.Connection.connect.__func__

    def counting(cls, *args, **kwargs):
        calls.append(cls)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(counting))
    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: counting(psycopg.Connection, *a, **k))
    db = connect(make_settings(db_conninfo))
    try:
        with db.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert len(calls) == 1
    finally:
        db.close()


def test_a_short_lived_database_keeps_the_pool_rules_without_threads(db_conninfo):
    import threading

    import psycopg

    before = threading.active_count()
    db = connect(make_settings(db_conninfo), short_lived=True)
    try:
        assert threading.active_count() == before  # no pool workers, no scheduler
        with db.connection() as conn:
            path = conn.execute("SHOW search_path").fetchone()[0]
            conn.execute("CREATE TABLE direct_t (v int)")
            conn.execute("INSERT INTO direct_t VALUES (1)")
        assert path == '"pgwarden",public'
        # an error rolls the block back
        with pytest.raises(psycopg.errors.DivisionByZero), db.connection() as conn:
            conn.execute("INSERT INTO direct_t VALUES (2)")
            conn.execute("SELECT 1 / 0")
        # a block inside a block gets a second connection, and both are kept
        with db.connection() as outer, db.connection() as inner:
            pids = {outer.info.backend_pid, inner.info.backend_pid}
        assert len(pids) == 2
        with db.connection() as conn:
            assert conn.execute("SELECT array_agg(v) FROM direct_t").fetchone() == ([1],)
            assert conn.info.backend_pid in pids
        # a connection that broke inside its block is dropped, not handed out again
        with pytest.raises(psycopg.OperationalError), db.connection() as conn:
            broken = conn.info.backend_pid
            with psycopg.connect(db_conninfo, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [broken])
            conn.execute("SELECT 1")
        for _ in range(3):
            with db.connection() as conn:
                assert conn.info.backend_pid != broken
    finally:
        db.close()
    with pytest.raises(DatabaseUnavailable), db.connection():
        pass


def test_a_lone_read_is_one_statement_without_a_transaction(database):
    from pgwarden.db.pool import read_alone

    with database.connection() as conn:
        first = read_alone(conn, "SELECT pg_current_xact_id(), %s::int", [7])
        second = read_alone(conn, "SELECT pg_current_xact_id(), %s::int", [8])
        # each its own transaction: no BEGIN (a round trip) opened one around both
        assert [r[1] for r in first + second] == [7, 8]
        assert first[0][0] != second[0][0]
        assert conn.autocommit is False
        assert conn.info.transaction_status.name == "IDLE"


def test_reopen_swaps_in_a_fresh_pool_and_retires_the_old(db_conninfo):
    # after a lost server the runner reopens the pool rather than wait out
    # psycopg_pool's back-off; a connection still out of the old pool is closed
    # when it comes back, and the old pool hands out nothing more
    import psycopg
    from psycopg_pool import PoolClosed

    db = connect(make_settings(db_conninfo))
    try:
        old = db.pool
        with db.connection() as held:
            before = held.info.backend_pid
            with psycopg.connect(db_conninfo, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'pgwarden' AND pid <> pg_backend_pid()"
                )
            db.reopen()
        assert db.pool is not old and held.closed
        with pytest.raises(PoolClosed), old.connection(timeout=1):
            pass
        with db.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != before
            assert conn.execute("SHOW search_path").fetchone()[0] == '"pgwarden",public'
    finally:
        db.close()


def test_fail_waiters_ends_a_wait_for_a_connection_at_once(db_conninfo):
    # a lost server: a job thread waiting for a pool connection fails now, not after
    # pool_timeout; later callers fail at once too, until reopen gives a new pool
    import threading
    import time

    import psycopg

    db = connect(make_settings(db_conninfo, pool_max_size=1, pool_timeout=20))
    try:
        failed: list[tuple[type, float]] = []

        def wait_for_one() -> None:
            started = time.monotonic()
            try:
                with db.connection():
                    pass
            except psycopg.OperationalError as exc:
                failed.append((type(exc), time.monotonic() - started))

        with db.connection():  # the pool's only connection is out
            waiter = threading.Thread(target=wait_for_one)
            waiter.start()
            time.sleep(0.3)
            assert waiter.is_alive()
            db.fail_waiters()
            waiter.join(5)
        assert not waiter.is_alive()
        assert len(failed) == 1 and failed[0][1] < 2, failed
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError), db.connection():
            pass
        assert time.monotonic() - started < 1
        db.reopen()
        with db.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        db.close()
