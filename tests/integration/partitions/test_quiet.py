"""Quiet parents: a run skips the children of a parent its last run found settled, and
does exactly what a full read would have done whatever changed since."""

from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from pgwarden.partitions import catalog, plan_all, run_maintenance, store
from tests.integration.partitions.conftest import bounds_of

NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)


def _daily(services, conn, name: str, **policy) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE {} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)").format(
            sql.Identifier("public", name)
        )
    )
    conn.commit()
    store.add_policy(services.db, f"public.{name}", interval="daily", **policy)


def _catalog(services, conn, now) -> dict[str, tuple]:
    """The catalog query's rows for a run at `now`, by parent name."""
    q = store.queries(services.db)
    params = catalog.ALL_MANAGED if now is None else catalog.quiet(now)
    rows = conn.execute(q["catalog"], params, binary=True).fetchall()
    conn.commit()
    return {r[1]: r for r in rows}


def _stamps(services, conn) -> dict[str, tuple]:
    rows = conn.execute(
        sql.SQL("SELECT parent_name, quiet_from, quiet_until FROM {}").format(
            sql.Identifier(services.db.schema, "partition_quiet")
        )
    ).fetchall()
    conn.commit()
    return {r[0]: r[1:] for r in rows}


def _quiet(services, conn, now, name: str) -> bool:
    row = _catalog(services, conn, now)[name]
    if row[12]:
        assert row[7:12] == (None,) * 5  # no children read
    return bool(row[12])


def test_a_settled_parent_is_stamped_and_not_read_again_until_its_span_ends(services, conn):
    _daily(services, conn, "qa", premake=2)
    first = run_maintenance(services, now=NOW)
    assert first.count("create") == 3
    assert _stamps(services, conn) == {}  # what it read was not settled: no stamp
    second = run_maintenance(services, now=NOW)
    assert second.plan.actions == [] and second.status == "ok"
    assert _stamps(services, conn) == {"qa": (NOW, datetime(2024, 3, 11, tzinfo=UTC))}

    assert _quiet(services, conn, NOW + timedelta(hours=11), "qa")
    assert not _quiet(services, conn, datetime(2024, 3, 11, tzinfo=UTC), "qa")  # span over
    assert not _quiet(services, conn, NOW - timedelta(seconds=1), "qa")  # before it began
    assert not _quiet(services, conn, None, "qa")  # status and plan always read it all
    full = _catalog(services, conn, None)["qa"]
    assert sorted(full[8]) == sorted(bounds_of(conn, "public", "qa"))

    assert second.quiet == [] and "unchanged" not in second.message
    quiet = run_maintenance(services, now=NOW + timedelta(hours=6))
    assert quiet.status == "ok" and quiet.plan.actions == [] and quiet.plan.warnings == []
    assert [str(t) for t in quiet.plan.tables] == ["public.qa"]
    assert quiet.to_dict()["quiet_tables"] == ["public.qa"]
    assert quiet.message.endswith(", 1 table(s) unchanged since their last run")
    # at the span's end the window moves: the next day is created
    later = run_maintenance(services, now=datetime(2024, 3, 11, 0, 30, tzinfo=UTC))
    assert [a.partition for a in later.plan.actions] == ["qa_p20240313"]


def _drop_newest(conn, name):
    newest = max(bounds_of(conn, "public", name))
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("public", newest)))


def _reattach_oldest(conn, name):
    # the same partition, the same bounds, detached and attached again: a new pg_inherits row
    oldest = min(bounds_of(conn, "public", name))
    expr = bounds_of(conn, "public", name)[oldest]
    parent, child = sql.Identifier("public", name), sql.Identifier("public", oldest)
    conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, child))
    attach = sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}")
    conn.execute(attach.format(parent, child, sql.SQL(expr)))


def _recreate_parent(conn, name):
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("public", name)))
    conn.execute(
        sql.SQL("CREATE TABLE {} (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)").format(
            sql.Identifier("public", name)
        )
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_drop_newest, ["create"]),
        (_reattach_oldest, []),
        (_recreate_parent, ["create", "create", "create"]),
        (None, ["create", "create"]),  # the policy: premake 2 -> 4
    ],
    ids=["dropped by hand", "detached and attached again", "parent made again", "policy"],
)
def test_a_stamp_never_hides_a_change(services, conn, change, expected):
    _daily(services, conn, "qb", premake=2)
    run_maintenance(services, now=NOW)
    run_maintenance(services, now=NOW)  # stamped
    assert _quiet(services, conn, NOW + timedelta(hours=1), "qb")
    if change is None:
        store.set_policy(services.db, "public.qb", premake=4)
    else:
        change(conn, "qb")
        conn.commit()
    assert not _quiet(services, conn, NOW + timedelta(hours=1), "qb")
    report = run_maintenance(services, now=NOW + timedelta(hours=1))
    assert report.status == "ok"
    assert [a.kind for a in report.plan.actions] == expected
    # stamped again from what this run read; the next run has nothing to do
    again = run_maintenance(services, now=NOW + timedelta(hours=2))
    assert again.plan.actions == []
    assert _quiet(services, conn, NOW + timedelta(hours=3), "qb")


def test_stamped_runs_do_hour_by_hour_what_full_reads_would(services, conn):
    # three days of hourly runs with retention: each run's actions are the plan a full
    # read gives at that hour (plan_all reads every child), drops and creations included
    _daily(services, conn, "qc", premake=1, retention="2 days")
    _daily(services, conn, "qd", premake=0, timezone="America/New_York")
    run_maintenance(services, now=NOW - timedelta(days=3))
    quiet_hours = 0
    for hour in range(72):
        now = NOW + timedelta(hours=hour)
        expected = [(a.kind, a.partition) for a in plan_all(services, now=now).actions]
        quiet_hours += _quiet(services, conn, now, "qc")
        report = run_maintenance(services, now=now)
        assert report.status == "ok"
        assert [(a.kind, a.partition) for a in report.plan.actions] == expected, now
    assert quiet_hours > 48  # most hours were quiet
    assert len(bounds_of(conn, "public", "qc")) == 4  # two kept days, today, tomorrow


def test_a_dry_run_writes_no_stamp(services, conn):
    _daily(services, conn, "qe", premake=1)
    run_maintenance(services, now=NOW)
    dry = run_maintenance(services, now=NOW, dry_run=True)
    assert dry.plan.actions == []
    assert _stamps(services, conn) == {}


def test_stamps_that_cannot_be_written_cost_the_run_nothing(services, conn, caplog):
    # the stamps are a cache: a failed write is logged, the run's record and its outcome
    # stay, and the next run reads every child
    _daily(services, conn, "qf", premake=1)
    run_maintenance(services, now=NOW)
    table = sql.Identifier(services.db.schema, "partition_quiet")
    conn.execute(
        "CREATE FUNCTION public.no_stamp() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'stamps refused'; END$$"
    )
    conn.execute(
        sql.SQL(
            "CREATE TRIGGER no_stamp BEFORE INSERT ON {} FOR EACH ROW "
            "EXECUTE FUNCTION public.no_stamp()"
        ).format(table)
    )
    conn.commit()
    try:
        with caplog.at_level("WARNING", logger="pgwarden.partitions.maintain"):
            report = run_maintenance(services, now=NOW)
        assert report.status == "ok" and report.run_id is not None
        assert "stamps refused" in caplog.text
        assert _stamps(services, conn) == {}
        row = conn.execute(
            sql.SQL("SELECT status FROM {} WHERE id = %s").format(
                sql.Identifier(services.db.schema, "partition_runs")
            ),
            [report.run_id],
        ).fetchone()
        conn.commit()
        assert row == ("ok",)
        assert not _quiet(services, conn, NOW + timedelta(hours=1), "qf")
    finally:
        conn.execute(sql.SQL("DROP TRIGGER no_stamp ON {}").format(table))
        conn.execute("DROP FUNCTION public.no_stamp()")
        conn.commit()
    run_maintenance(services, now=NOW)  # stamps again
    assert _quiet(services, conn, NOW + timedelta(hours=1), "qf")
