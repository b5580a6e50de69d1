import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from pgwarden.db import migrate
from pgwarden.errors import PgwardenError
from pgwarden.partitions import plan_all, run_maintenance, status, store
from pgwarden.partitions.maintain import leader_key
from tests.integration.partitions.conftest import bounds_of


def test_odd_names_month_end_adoption_and_default_rescue(services, conn):
    conn.execute('CREATE SCHEMA "Sales"')
    conn.execute(
        'CREATE TABLE "Sales"."Order Events" (id bigint NOT NULL, "Créé à" timestamptz NOT NULL, '
        'note text, PRIMARY KEY (id, "Créé à")) PARTITION BY RANGE ("Créé à")'
    )
    conn.execute('CREATE INDEX ON "Sales"."Order Events" (note)')
    # adopted by bounds whatever the names: the seed's style and a hand-made one
    conn.execute(
        'CREATE TABLE "Sales"."Order Events_2024_01" PARTITION OF "Sales"."Order Events" '
        "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')"
    )
    conn.execute(
        'CREATE TABLE "Sales".whatever PARTITION OF "Sales"."Order Events" '
        "FOR VALUES FROM ('2024-02-01') TO ('2024-02-15')"
    )
    conn.execute(
        'CREATE TABLE "Sales"."Order Events default" PARTITION OF "Sales"."Order Events" DEFAULT'
    )
    conn.execute(
        'INSERT INTO "Sales"."Order Events" SELECT g, timestamptz \'2024-01-31 23:59:59+00\' '
        "+ g * interval '1 hour', 'n' || g FROM generate_series(1, 2000) g"
    )
    conn.commit()
    before = conn.execute('SELECT count(*), sum(id) FROM "Sales"."Order Events"').fetchone()
    conn.commit()
    change = store.add_policy(
        services.db,
        '"Sales"."Order Events"',
        interval="monthly",
        premake=2,
        default_mode="keep-empty",
    )
    assert change.adopted == 2 and change.has_default
    now = datetime(2024, 2, 29, 23, 30, tzinfo=UTC)  # leap day, last half hour of February
    plan = plan_all(services, now=now)
    spans = [(a.lower.isoformat()[:10], a.upper.isoformat()[:10]) for a in plan.actions]
    # Feb 15 -> Mar 1 fills the hole after the hand-made half month; rows reach mid-April
    assert spans == [
        ("2024-02-15", "2024-03-01"),
        ("2024-03-01", "2024-04-01"),
        ("2024-04-01", "2024-05-01"),
    ]
    assert any(w.kind == "default_rows" for w in plan.warnings)
    report = run_maintenance(services, now=now)
    assert report.status == "ok", report.to_dict()
    assert sum(a.rows_moved for t in report.tables for a in t.actions) > 0
    after = conn.execute('SELECT count(*), sum(id) FROM "Sales"."Order Events"').fetchone()
    left = conn.execute('SELECT count(*) FROM "Sales"."Order Events default"').fetchone()
    conn.commit()
    assert after == before and left == (0,)
    found = bounds_of(conn, "Sales", "Order Events")
    assert found["Order Events_p20240301"] == (
        "FOR VALUES FROM ('2024-03-01 00:00:00+00') TO ('2024-04-01 00:00:00+00')"
    )
    checks = conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conname = 'pgwarden_bounds_check'"
    ).fetchone()
    assert checks == (0,)
    assert plan_all(services, now=now).actions == []
    st = status(services, now=now)[0]
    assert st.partitions == 5 and st.rows_in_default == 0 and st.last_status == "ok"
    assert st.newest == datetime(2024, 5, 1, tzinfo=UTC) and st.horizon_seconds > 0


def test_dst_zone_daily_on_timestamptz_and_quarterly_on_date(services, conn):
    conn.execute("CREATE TABLE public.m (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.execute("CREATE TABLE public.wall (ts timestamp NOT NULL) PARTITION BY RANGE (ts)")
    conn.execute("CREATE TABLE public.f (d date NOT NULL) PARTITION BY RANGE (d)")
    conn.commit()
    store.add_policy(services.db, "public.m", interval="daily", premake=2, timezone="Europe/Berlin")
    store.add_policy(
        services.db, "public.wall", interval="daily", premake=1, timezone="America/New_York"
    )
    store.add_policy(
        services.db,
        "public.f",
        interval="quarterly",
        premake=2,
        naming_template="_yYYYYqN",
        timezone="Asia/Seoul",
    )
    now = datetime(2024, 3, 30, 12, tzinfo=UTC)
    assert run_maintenance(services, now=now).status == "ok"
    m = bounds_of(conn, "public", "m")
    # Berlin midnight is 23:00 UTC before the change on March 31 and 22:00 UTC after it
    assert m["m_p20240331"] == (
        "FOR VALUES FROM ('2024-03-30 23:00:00+00') TO ('2024-03-31 22:00:00+00')"
    )
    assert m["m_p20240401"].startswith("FOR VALUES FROM ('2024-03-31 22:00:00+00')")
    wall = bounds_of(conn, "public", "wall")
    assert wall["wall_p20240331"] == (
        "FOR VALUES FROM ('2024-03-31 00:00:00') TO ('2024-04-01 00:00:00')"
    )
    f = bounds_of(conn, "public", "f")
    assert f == {
        "f_y2024q1": "FOR VALUES FROM ('2024-01-01') TO ('2024-04-01')",
        "f_y2024q2": "FOR VALUES FROM ('2024-04-01') TO ('2024-07-01')",
        "f_y2024q3": "FOR VALUES FROM ('2024-07-01') TO ('2024-10-01')",
    }
    conn.execute(
        "INSERT INTO public.m VALUES ('2024-03-31 00:30:00+01')"
    )  # Berlin, just after midnight
    part = conn.execute("SELECT tableoid::regclass::text FROM public.m").fetchone()[0]
    conn.commit()
    assert part == "m_p20240331"


def test_retention_drops_only_expired_and_respects_keep_at_least(services, conn):
    conn.execute("CREATE TABLE public.r (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(services.db, "public.r", interval="daily", premake=0)
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    for day in range(10):
        run_maintenance(services, now=start + timedelta(days=day))
    assert len(bounds_of(conn, "public", "r")) == 10  # no retention yet: Jan 1 .. Jan 10
    store.set_policy(services.db, "public.r", retention="2 days", keep_at_least=2)
    report = run_maintenance(services, now=start + timedelta(days=10))
    assert report.status == "ok"
    # cut-off Jan 9 12:00: Jan 1 .. Jan 8 end before it; Jan 9 still holds kept rows
    assert sorted(bounds_of(conn, "public", "r")) == ["r_p20240109", "r_p20240110", "r_p20240111"]
    store.set_policy(services.db, "public.r", keep_at_least=5, retention="1 day")
    plan = plan_all(services, now=start + timedelta(days=12))
    assert [a.kind for a in plan.actions] == ["create"]  # nothing dropped below keep-at-least 5
    assert "keep_at_least" in {w.kind for w in plan.warnings}


def test_archive_drop_restore_round_trip(services, conn, tmp_path):
    conn.execute(
        "CREATE TABLE public.a (id int NOT NULL, ts timestamptz NOT NULL, amount numeric(12,4), "
        "tags text[], doc jsonb, note text, d interval) PARTITION BY RANGE (ts)"
    )
    conn.commit()
    store.add_policy(
        services.db,
        "public.a",
        interval="monthly",
        premake=1,
        retention="1 month",
        action="archive",
        archive_dir=str(tmp_path),
        keep_at_least=0,
    )
    run_maintenance(services, now=datetime(2024, 1, 10, tzinfo=UTC))
    conn.execute(
        "INSERT INTO public.a SELECT g, '2024-01-01'::timestamptz + g * interval '7 min', "
        "g / 7.0, ARRAY['x', 'tab\there'], jsonb_build_object('g', g, 'q', 'line\nbreak \"'), "
        "CASE WHEN g % 5 = 0 THEN NULL ELSE E'back\\\\slash ü ' || g END, g * interval '1 sec' "
        "FROM generate_series(1, 3000) g"
    )
    conn.commit()
    before = conn.execute("SELECT * FROM public.a ORDER BY id").fetchall()
    conn.commit()
    report = run_maintenance(services, now=datetime(2024, 3, 5, tzinfo=UTC))
    assert report.status == "ok", report.to_dict()
    archived = [a for t in report.tables for a in t.actions if a.action.kind == "archive"]
    assert len(archived) == 1 and archived[0].archive_file
    assert conn.execute("SELECT count(*) FROM public.a").fetchone() == (0,)
    conn.commit()
    from pgwarden.partitions import restore_archive

    dry = restore_archive(services, archived[0].archive_file, dry_run=True)
    assert dry.rows == 3000 and conn.execute("SELECT count(*) FROM public.a").fetchone() == (0,)
    conn.commit()
    done = restore_archive(services, archived[0].archive_file)
    assert done.rows == 3000
    after = conn.execute("SELECT * FROM public.a ORDER BY id").fetchall()
    kinds = conn.execute(
        "SELECT kind, status, dry_run FROM partition_runs WHERE kind = 'restore' ORDER BY id"
    ).fetchall()
    conn.commit()
    assert after == before
    assert kinds == [("restore", "ok", True), ("restore", "ok", False)]


def test_a_corrupt_archive_is_refused(services, conn, tmp_path):
    from pgwarden.errors import ArchiveInvalid
    from pgwarden.partitions import restore_archive
    from pgwarden.partitions.archive import load_manifest

    conn.execute("CREATE TABLE public.z (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(
        services.db,
        "public.z",
        interval="daily",
        premake=0,
        retention="1 day",
        action="archive",
        archive_dir=str(tmp_path),
        keep_at_least=0,
    )
    run_maintenance(services, now=datetime(2024, 1, 1, 5, tzinfo=UTC))
    conn.execute("INSERT INTO public.z VALUES ('2024-01-01 01:00+00')")
    conn.commit()
    report = run_maintenance(services, now=datetime(2024, 1, 3, 5, tzinfo=UTC))
    path = next(a.archive_file for t in report.tables for a in t.actions if a.archive_file)
    data = load_manifest(path).path
    data.write_bytes(data.read_bytes()[:-3] + b"xyz")
    try:
        restore_archive(services, path)
    except ArchiveInvalid as exc:
        assert "sha256" in str(exc)
    else:
        raise AssertionError("a corrupt archive was restored")


def test_a_second_maintainer_exits_at_once(services, conn):
    conn.execute("CREATE TABLE public.two (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(services.db, "public.two", interval="daily", premake=3)
    with psycopg.connect(services.db.conninfo, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [leader_key(services.db.schema)])
        t0 = time.monotonic()
        report = run_maintenance(services)
        assert report.status == "skipped" and "another" in report.message
        assert time.monotonic() - t0 < 1.0
    # the run read the catalog in the lock's round trip; its record still says skipped
    recorded = conn.execute(
        sql.SQL("SELECT status, finished_at IS NOT NULL FROM {} WHERE id = %s").format(
            sql.Identifier(services.db.schema, "partition_runs")
        ),
        [report.run_id],
    ).fetchone()
    conn.commit()
    assert recorded == ("skipped", True)
    # two at once in threads: exactly the wanted partitions, no error
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(run_maintenance(services))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) in (["ok", "ok"], ["ok", "skipped"])
    assert len(bounds_of(conn, "public", "two")) == 4


def test_a_run_for_a_table_without_policy_fails_and_says_so_in_its_record(services, conn):
    try:
        run_maintenance(services, table="public.nobody")
    except Exception as exc:  # the "no policy" error of the policy store
        assert "no policy" in str(exc)
    else:
        raise AssertionError("a run for a table without policy succeeded")
    runs = conn.execute(
        sql.SQL("SELECT status, finished_at IS NOT NULL, message FROM {} ORDER BY id").format(
            sql.Identifier(services.db.schema, "partition_runs")
        )
    ).fetchall()
    conn.commit()
    assert [(r[0], r[1]) for r in runs] == [("failed", True)]
    assert "no policy" in runs[0][2]
    # the leader lock was released: the next run goes ahead
    assert run_maintenance(services).status == "ok"


def _runs(conn, schema):
    rows = conn.execute(
        sql.SQL("SELECT status FROM {} ORDER BY id").format(
            sql.Identifier(schema, "partition_runs")
        )
    ).fetchall()
    conn.commit()
    return [r[0] for r in rows]


def _leader_free(services):
    with psycopg.connect(services.db.conninfo, autocommit=True) as other:
        row = other.execute(
            "SELECT pg_try_advisory_lock(%(k)s) AND pg_advisory_unlock(%(k)s)",
            {"k": leader_key(services.db.schema)},
        ).fetchone()
    return bool(row and row[0])


def test_a_run_checks_the_schema_revision_in_its_first_round_trip(services, conn):
    conn.execute("CREATE TABLE public.rev (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(services.db, "public.rev", interval="daily", premake=1)
    schema = services.db.schema
    # at the head revision: an ordinary run
    assert run_maintenance(services, revision=migrate.head()).status == "ok"
    assert _runs(conn, schema) == ["ok"]
    # behind: the error names both revisions; no lock is kept and no run is recorded
    with pytest.raises(PgwardenError, match="is at revision .* needs 0000_future"):
        run_maintenance(services, revision="0000_future")
    assert _runs(conn, schema) == ["ok"] and _leader_free(services)
    # no version table at all: the first statement fails, the rest are skipped
    table = sql.Identifier(schema, migrate.VERSION_TABLE)
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO moved_version").format(table))
    conn.commit()
    try:
        with pytest.raises(PgwardenError, match="is at revision none"):
            run_maintenance(services, revision=migrate.head())
    finally:
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(schema, "moved_version"), sql.Identifier(migrate.VERSION_TABLE)
            )
        )
        conn.commit()
    assert _runs(conn, schema) == ["ok"] and _leader_free(services)
    assert run_maintenance(services, revision=migrate.head()).status == "ok"


def test_a_failed_first_round_trip_gives_the_leader_lock_back(services, conn):
    # the policy table is read after the lock is taken; without it the round trip fails
    schema = services.db.schema
    policies = sql.Identifier(schema, "partition_policies")
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO moved_policies").format(policies))
    conn.commit()
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            run_maintenance(services)
        assert _leader_free(services)
    finally:
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO partition_policies").format(
                sql.Identifier(schema, "moved_policies")
            )
        )
        conn.commit()


def test_a_locked_parent_is_skipped_after_lock_timeout_and_retried_next_run(fast, conn):
    services = fast
    for name in ("busy", "free"):
        conn.execute(
            sql.SQL("CREATE TABLE {} (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)").format(
                sql.Identifier("public", name)
            )
        )
    conn.commit()
    store.add_policy(
        services.db, "public.busy", interval="daily", premake=1, retention="2 days", keep_at_least=0
    )
    store.add_policy(services.db, "public.free", interval="daily", premake=1)
    now = datetime(2024, 1, 10, 12, tzinfo=UTC)
    with psycopg.connect(services.db.conninfo) as other:
        other.execute("LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        report = run_maintenance(services, now=now)
        elapsed = time.monotonic() - t0
        by = {t.table: t for t in report.tables}
        assert report.status == "partial"
        assert (
            by["public.busy"].status == "failed" and "LockNotAvailable" in by["public.busy"].error
        )
        assert by["public.free"].status == "ok"
        assert elapsed < 2.0  # 2 attempts x 0.2 s, not a wait on the other session
        other.rollback()
    assert run_maintenance(services, now=now).status == "ok"
    assert len(bounds_of(conn, "public", "busy")) == 2

    # a reader holds ACCESS SHARE; the drop waits at most lock_timeout, and a third
    # session's query queued behind the drop is held no longer than that either
    with (
        psycopg.connect(services.db.conninfo) as reader,
        psycopg.connect(services.db.conninfo, autocommit=True) as third,
    ):
        reader.execute("SELECT count(*) FROM public.busy")
        waited = []

        def query() -> None:
            time.sleep(0.05)
            t = time.monotonic()
            third.execute("SELECT count(*) FROM public.busy")
            waited.append(time.monotonic() - t)

        q = threading.Thread(target=query)
        q.start()
        later = now + timedelta(days=5)
        report = run_maintenance(services, now=later)
        q.join()
        assert report.tables[0].status == "failed"
        assert waited and waited[0] < 0.2 + 0.3
        reader.rollback()
    report = run_maintenance(services, now=later)
    assert report.status == "ok"
    rows = conn.execute(
        "SELECT status, count(*) FROM partition_run_tables WHERE parent_name = 'busy' "
        "GROUP BY status ORDER BY status"
    ).fetchall()
    conn.commit()
    assert rows == [("failed", 2), ("ok", 2)]


def test_row_retention_in_batches(services, conn):
    from pgwarden.ops.row_retention import delete_old_rows

    conn.execute("CREATE TABLE public.scores (id int, last_observed_at timestamptz)")
    conn.execute(
        "INSERT INTO public.scores SELECT g, now() - g * interval '1 day' + interval '1 hour' "
        "FROM generate_series(1, 100) g"
    )
    conn.commit()
    dry = delete_old_rows(services, "public.scores", "last_observed_at", "30 days", dry_run=True)
    assert dry.deleted == 70
    done = delete_old_rows(
        services, "public.scores", "last_observed_at", "30 days", batch_size=30, pause=0
    )
    assert done.deleted == 70 and done.batches >= 1 and done.status == "OK"
    assert conn.execute("SELECT count(*) FROM public.scores").fetchone() == (30,)
    conn.commit()


def _records(conn, schema):
    rows = conn.execute(
        sql.SQL(
            "SELECT id, status, dry_run, started_at <= finished_at, jsonb_array_length(actions) "
            "FROM {} ORDER BY id"
        ).format(sql.Identifier(schema, "partition_runs"))
    ).fetchall()
    conn.commit()
    return rows


def test_a_run_is_recorded_before_its_first_change_and_once_at_its_end_when_idle(services, conn):
    conn.execute("CREATE TABLE public.rec (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(services.db, "public.rec", interval="daily", premake=2)
    schema = services.db.schema
    # a run with work: its record says running while it works (written before any DDL)
    seen = []

    def tick(name, done, total):
        if name:
            seen.extend(r[1] for r in _records(conn, schema))

    report = run_maintenance(services, progress=tick)
    assert seen == ["running"]
    assert _records(conn, schema) == [(report.run_id, "ok", False, True, 3)]
    # nothing to do: one row, written complete as the run ends
    idle = run_maintenance(services)
    assert not idle.plan.actions and idle.run_id is not None and idle.run_id > report.run_id
    assert _records(conn, schema)[-1] == (idle.run_id, "ok", False, True, 0)
    # a dry run is recorded the same way, with the actions it would take
    store.set_policy(services.db, "public.rec", premake=3)
    dry = run_maintenance(services, dry_run=True)
    assert _records(conn, schema)[-1] == (dry.run_id, "ok", True, True, 1)
    assert len(_records(conn, schema)) == 3
