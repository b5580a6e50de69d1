"""A run's tables spread over connections (`partitions.parallel`, see batch.py)."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.conninfo import with_options
from pgwarden.db.pool import Database, DirectPool, first_connection, pooled_conninfo
from pgwarden.partitions import run_maintenance, store
from pgwarden.services import Services
from tests.e2e.waits import free_port
from tests.integration.partitions.conftest import bounds_of
from tests.integration.partitions.test_removal_paths import _reader_for

START = datetime(2024, 1, 1, 12, tzinfo=UTC)
NAMES = ["t0", "t1", "t2", "t3"]
DAYS = 12  # partitions Jan 1 .. Jan 13; the cut-off (Jan 11 12:00) drops Jan 1 .. Jan 10
KEPT = ["p20240111", "p20240112", "p20240113"]


def _history(services, conn, names):
    """Daily tables with 13 partitions each and 2 days' retention: the next run drops 10
    partitions of each (40 in all: two lanes' worth)."""
    for name in names:
        conn.execute(
            f"CREATE TABLE public.{name} (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)"
        )
        conn.commit()
        store.add_policy(
            services.db, f"public.{name}", interval="daily", premake=0, keep_at_least=1
        )
    for day in range(DAYS + 1):
        assert run_maintenance(services, now=START + timedelta(days=day)).status == "ok"
    for name in names:
        store.set_policy(services.db, f"public.{name}", retention="2 days")


def _log_drops(conn):
    """Record the backend of every DROP TABLE from here on."""
    conn.execute("CREATE TABLE public.drops (pid int NOT NULL)")
    conn.execute(
        "CREATE FUNCTION public.log_drop() RETURNS event_trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO public.drops VALUES (pg_backend_pid()); END $$"
    )
    conn.execute(
        "CREATE EVENT TRIGGER log_drop ON ddl_command_start WHEN TAG IN ('DROP TABLE') "
        "EXECUTE FUNCTION public.log_drop()"
    )
    conn.commit()


def _backends(conn) -> int:
    row = conn.execute("SELECT count(DISTINCT pid) FROM public.drops").fetchone()
    conn.commit()
    return row[0]


def _assert_dropped(conn, report, names):
    assert report.status == "ok", report.message
    assert report.count("drop") == 10 * len(names)
    for name in names:
        assert sorted(bounds_of(conn, "public", name)) == [f"{name}_{k}" for k in KEPT]


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_run_spreads_its_tables_over_that_many_connections(services, conn, parallel):
    _history(services, conn, NAMES)
    services.config.set("partitions.parallel", parallel)
    _log_drops(conn)
    report = run_maintenance(services, now=START + timedelta(days=DAYS))
    _assert_dropped(conn, report, NAMES)
    assert {t.removal_path for t in report.tables} == {"short"}
    assert _backends(conn) == parallel
    # what each did is recorded as with one lane; nothing is left to do
    rows = conn.execute(
        "SELECT count(*) FROM partition_run_tables WHERE run_id = %s AND status = 'ok'",
        [report.run_id],
    ).fetchone()
    conn.commit()
    assert rows == (4,)
    again = run_maintenance(services, now=START + timedelta(days=DAYS))
    assert again.status == "ok" and not again.plan.actions


def test_a_held_table_in_the_second_lane_falls_back_alone(services, conn):
    # equal tables alternate between the lanes: t1 and t3 go in the second one
    _history(services, conn, NAMES)
    _log_drops(conn)
    reader = _reader_for(services.db.conninfo, "t3", 0.6)
    report = run_maintenance(services, now=START + timedelta(days=DAYS))
    reader.join()
    _assert_dropped(conn, report, NAMES)
    assert {t.table: t.removal_path for t in report.tables} == {
        "public.t0": "short",
        "public.t1": "short",
        "public.t2": "short",
        "public.t3": "concurrent",
    }
    assert _backends(conn) == 2


def test_without_a_second_connection_the_run_does_every_table_itself(
    services, conn, settings, caplog
):
    # a pool that has the run's connection but cannot open another (the server refuses
    # it): the second lane's tables are done on the run's own connection, after its own
    _history(services, conn, NAMES)
    _log_drops(conn)
    real = pooled_conninfo(services.db.conninfo, settings.schema_name, "pgwarden-lanes")
    refused = with_options(real, host="127.0.0.1", port=str(free_port()))
    pool = DirectPool(refused, first_connection(real, 5), max_size=4, name="lanes", timeout=1)
    db = Database(services.db.conninfo, settings.schema_name, False, None, pool, settings)
    try:
        lone = Services(db=db, config=RuntimeConfig(db))
        with caplog.at_level(logging.INFO, logger="pgwarden.partitions.batch"):
            report = run_maintenance(lone, now=START + timedelta(days=DAYS))
    finally:
        db.close()
    _assert_dropped(conn, report, NAMES)
    assert {t.removal_path for t in report.tables} == {"short"}
    assert _backends(conn) == 1
    assert [r for r in caplog.records if r.action == "partition_lane_unavailable"]
