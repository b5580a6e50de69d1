"""Retention's two paths: the short one (one transaction, short lock_timeout) and the fallback."""

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import connect
from pgwarden.partitions import run_maintenance, store
from pgwarden.services import Services
from tests.integration.partitions.conftest import bounds_of

START = datetime(2024, 1, 1, 12, tzinfo=UTC)


def _daily(services, conn, name, *, default=False):
    conn.execute(
        f"CREATE TABLE public.{name} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)"
    )
    if default:
        conn.execute(f"CREATE TABLE public.{name}_default PARTITION OF public.{name} DEFAULT")
    conn.commit()
    store.add_policy(services.db, f"public.{name}", interval="daily", premake=0, keep_at_least=1)


def _history(services, names, days=6):
    # partitions up to `days`, so that the timed run at `days` only removes
    for day in range(days + 1):
        assert run_maintenance(services, now=START + timedelta(days=day)).status == "ok"
    for name in names:
        store.set_policy(services.db, f"public.{name}", retention="2 days")


def _reader_for(conninfo, table, seconds):
    """Another session reads `table` and keeps its transaction open for `seconds`."""
    ready = threading.Event()

    def hold() -> None:
        with psycopg.connect(conninfo) as other:
            other.execute(f"SELECT count(*) FROM public.{table}")
            ready.set()
            time.sleep(seconds)
            other.rollback()

    t = threading.Thread(target=hold)
    t.start()
    assert ready.wait(5)
    return t


def _recorded_paths(conn, run_id):
    rows = conn.execute(
        "SELECT a->>'table', a->>'path' FROM partition_runs r, jsonb_array_elements(r.actions) a "
        "WHERE r.id = %s AND a->>'action' = 'drop'",
        [run_id],
    ).fetchall()
    conn.commit()
    return dict(rows)


def test_a_free_table_takes_the_short_path_and_a_held_one_falls_back_to_concurrently(
    services, conn
):
    _daily(services, conn, "free")
    _daily(services, conn, "held")
    _history(services, ["free", "held"])
    # the reader outlasts the short path's 0.1 s but not the fallback's 2 s lock_timeout
    reader = _reader_for(services.db.conninfo, "held", 0.6)
    report = run_maintenance(services, now=START + timedelta(days=6))
    reader.join()
    assert report.status == "ok", report.message
    by = {t.table: t for t in report.tables}
    assert by["public.free"].removal_path == "short"
    assert by["public.held"].removal_path == "concurrent"
    assert {a.path for a in by["public.held"].actions if a.action.kind == "drop"} == {"concurrent"}
    assert _recorded_paths(conn, report.run_id) == {
        "public.free": "short",
        "public.held": "concurrent",
    }
    for name in ("free", "held"):
        # cut-off Jan 5 12:00: Jan 1 .. Jan 4 dropped; nothing left pending
        assert sorted(bounds_of(conn, "public", name)) == [
            f"{name}_p20240105",
            f"{name}_p20240106",
            f"{name}_p20240107",
        ]
    pending = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhdetachpending").fetchone()
    conn.commit()
    assert pending == (0,)


def test_with_a_default_partition_a_held_table_falls_back_to_retries(services, conn):
    # PostgreSQL forbids DETACH CONCURRENTLY next to a default partition: the fallback
    # is the same one transaction under the full lock_timeout, retried
    _daily(services, conn, "held", default=True)
    _history(services, ["held"])
    reader = _reader_for(services.db.conninfo, "held", 0.6)
    report = run_maintenance(services, now=START + timedelta(days=6))
    reader.join()
    assert report.status == "ok", report.message
    assert report.tables[0].removal_path == "plain"
    assert sorted(bounds_of(conn, "public", "held")) == [
        "held_default",
        "held_p20240105",
        "held_p20240106",
        "held_p20240107",
    ]


def test_with_detach_concurrently_off_the_batch_runs_under_the_full_timeout(services, conn):
    services.config.set("partitions.detach_concurrently", False)
    _daily(services, conn, "t")
    _history(services, ["t"])
    report = run_maintenance(services, now=START + timedelta(days=6))
    assert report.status == "ok" and report.tables[0].removal_path == "plain"
    assert report.count("drop") == 4


def test_tables_after_a_held_one_in_the_same_batch_still_take_the_short_path(services, conn):
    # the batch sends every table's transaction in one pipeline; the held table's
    # lock error voids the rest of that pipeline, which is sent again without it
    for name in ("a_held", "b_free", "c_free"):
        _daily(services, conn, name)
    _history(services, ["a_held", "b_free", "c_free"])
    reader = _reader_for(services.db.conninfo, "a_held", 0.6)
    report = run_maintenance(services, now=START + timedelta(days=6))
    reader.join()
    assert report.status == "ok", report.message
    assert {t.table: t.removal_path for t in report.tables} == {
        "public.a_held": "concurrent",
        "public.b_free": "short",
        "public.c_free": "short",
    }
    assert report.count("drop") == 12
    for name in ("a_held", "b_free", "c_free"):
        assert sorted(bounds_of(conn, "public", name)) == [
            f"{name}_p20240105",
            f"{name}_p20240106",
            f"{name}_p20240107",
        ]
    # the connection the run used is usable: the next run has nothing to do
    again = run_maintenance(services, now=START + timedelta(days=6))
    assert again.status == "ok" and not again.plan.actions


def test_the_short_path_waits_for_the_parent_before_it_locks_any_partition(services, conn):
    # a session holds the parent alone (no partition): while the short path waits for
    # it, the run holds no lock on any partition, so the wait comes before any work
    _daily(services, conn, "lk")
    _history(services, ["lk"])
    services.config.set("partitions.short_lock_timeout", 5.0)
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(services.db.conninfo) as other:
            other.execute("LOCK TABLE ONLY public.lk IN ACCESS SHARE MODE")
            ready.set()
            release.wait(10)
            other.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert ready.wait(5)
    found: list[tuple] = []
    run = threading.Thread(
        target=lambda: found.append((run_maintenance(services, now=START + timedelta(days=6)),))
    )
    run.start()
    try:
        with psycopg.connect(services.db.conninfo, autocommit=True) as watcher:
            waiting = None
            for _ in range(200):
                waiting = watcher.execute(
                    "SELECT l.pid FROM pg_locks l WHERE NOT l.granted "
                    "AND l.relation = 'public.lk'::regclass"
                ).fetchone()
                if waiting:
                    break
                time.sleep(0.02)
            assert waiting, "the run never waited for the parent"
            held = watcher.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_inherits i ON i.inhrelid = l.relation "
                "WHERE l.pid = %s AND l.granted AND i.inhparent = 'public.lk'::regclass",
                [waiting[0]],
            ).fetchone()
            assert held == (0,)
    finally:
        release.set()
        holder.join()
        run.join()
    report = found[0][0]
    assert report.status == "ok" and report.tables[0].removal_path == "short"
    assert report.count("drop") == 4


def test_the_run_leaves_its_connection_with_the_server_lock_timeout(settings, conn):
    # the batch sets the short lock_timeout for the session around its transactions; a
    # held table after a free one makes the pipeline fail after the setting committed
    # with the first table and before its RESET, and the run's connection (the one
    # connection of a short-lived pool) must still come back with the server's
    db = connect(settings, name="pgwarden-timeout", short_lived=True)
    try:
        services = Services(db=db, config=RuntimeConfig(db))
        with db.connection() as c:
            default = c.execute("SHOW lock_timeout").fetchone()
        _daily(services, conn, "a_free")
        # with a default partition its fallback is plain (SET LOCAL), which resets nothing
        _daily(services, conn, "b_held", default=True)
        _history(services, ["a_free", "b_held"])
        reader = _reader_for(services.db.conninfo, "b_held", 0.6)
        report = run_maintenance(services, now=START + timedelta(days=6))
        reader.join()
        assert {t.table: t.removal_path for t in report.tables} == {
            "public.a_free": "short",
            "public.b_held": "plain",
        }
        with db.connection() as c:
            assert c.execute("SHOW lock_timeout").fetchone() == default
        for name in ("a_free", "b_held"):  # and after a batch that all went through
            store.set_policy(db, f"public.{name}", retention="1 day")
        report = run_maintenance(services, now=START + timedelta(days=6))
        assert {t.removal_path for t in report.tables} == {"short"}
        with db.connection() as c:
            assert c.execute("SHOW lock_timeout").fetchone() == default
    finally:
        db.close()
