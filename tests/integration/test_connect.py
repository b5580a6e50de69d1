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


def test_pool_sessions_have_our_schema_and_utc(database):
    with database.connection() as conn:
        path = conn.execute("SHOW search_path").fetchone()[0]
        tz = conn.execute("SHOW timezone").fetchone()[0]
    assert path == '"pgwarden",public' and tz == "UTC"


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
