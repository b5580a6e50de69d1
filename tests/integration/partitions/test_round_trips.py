"""What a run sends and when, read from libpq's own trace of the run's connection."""

from pathlib import Path

from psycopg import pq, sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import connect
from pgwarden.partitions import run_maintenance, store
from pgwarden.services import Services


def _segments(trace: Path) -> list[list[str]]:
    """The client's messages (each a line: a query's first line only), cut after each
    Sync: one list per round trip."""
    out: list[list[str]] = [[]]
    for line in trace.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0] != "F":
            continue
        out[-1].append(line)
        if fields[2].startswith("Sync"):
            out.append([])
    return [s for s in out if s]


def _traced_run(db, services, trace: Path):
    """run_maintenance with libpq's trace of its connection in `trace`: (report, segments).
    The short-lived pool has one connection: the run gets the one traced here."""
    with trace.open("w") as f:
        with db.connection() as c:
            c.pgconn.trace(f.fileno())
            c.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        report = run_maintenance(services)
        with db.connection() as c:
            c.pgconn.untrace()
    return report, _segments(trace)


def _partitioned(db, name: str) -> None:
    """public.<name>, range-partitioned by day, with a policy."""
    with db.connection() as c:
        c.execute(
            sql.SQL("CREATE TABLE {} (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)").format(
                sql.Identifier("public", name)
            )
        )
    store.add_policy(db, f"public.{name}", interval="daily", premake=1)


def test_outcomes_of_batched_tables_go_with_the_finish(settings, tmp_path):
    # more tables than RECORD_BATCH, all simple: the batch does every table's work, and
    # their outcomes are written in the run's last round trip, not in extra ones before
    # it, by one statement
    db = connect(settings, name="pgwarden-trace", short_lived=True)
    try:
        services = Services(db=db, config=RuntimeConfig(db))
        for i in range(20):
            _partitioned(db, f"rt{i:02d}")
        report, segments = _traced_run(db, services, tmp_path / "libpq.trace")
        assert report.status == "ok" and len(report.tables) == 20
        writes = [i for i, s in enumerate(segments) for m in s if "partition_run_tables" in m]
        # (a query's first line only: the trace continues its text on the lines after)
        finish = [i for i, s in enumerate(segments) for m in s if '"UPDATE ' in m and "_runs" in m]
        # one INSERT for the 20 outcomes, in the round trip of the run's finish
        assert len(writes) == 1 and writes == finish
        with db.connection() as c:
            rows = c.execute(
                "SELECT count(*) FROM partition_run_tables WHERE run_id = %s", [report.run_id]
            ).fetchone()
        assert rows == (20,)
    finally:
        db.close()


def test_a_steady_run_reads_the_runtime_config_in_its_first_round_trip(settings, tmp_path):
    # a cron-started run has a fresh config: its read rides with the lock and the
    # catalog instead of costing a round trip of its own before them
    db = connect(settings, name="pgwarden-trace", short_lived=True)
    try:
        _partitioned(db, "cfg_rt")
        run_maintenance(Services(db=db, config=RuntimeConfig(db)))  # partitions made
        # the first steady run reads the parent in full and stamps it, after its finish
        services = Services(db=db, config=RuntimeConfig(db))
        report, segments = _traced_run(db, services, tmp_path / "full.trace")
        assert report.status == "ok" and not report.quiet
        syncs = [s for s in segments if any("\tSync" in m for m in s)]
        assert len(syncs) == 3
        assert any("partition_quiet" in m for m in syncs[-1])
        # the next finds its stamp: the first round trip and the finish
        services = Services(db=db, config=RuntimeConfig(db))  # nothing read yet
        report, segments = _traced_run(db, services, tmp_path / "libpq.trace")
        assert report.status == "ok" and report.quiet == ["public.cfg_rt"]
        reads = [i for i, s in enumerate(segments) for m in s if "system_config" in m]
        assert reads == [0], segments
        syncs = [s for s in segments if any("\tSync" in m for m in s)]
        assert len(syncs) == 2  # the first round trip and the finish
        assert services.config.get("partitions.lock_timeout") is not None
    finally:
        db.close()


def test_pending_detach_steps_are_read_only_when_there_are_some(settings, tmp_path):
    # the first round trip only asks whether a detach is pending; the steps with what the
    # catalog says of each table come in a round trip of their own when one is
    db = connect(settings, name="pgwarden-trace", short_lived=True)
    try:
        services = Services(db=db, config=RuntimeConfig(db))
        _partitioned(db, "steps_rt")
        report, segments = _traced_run(db, services, tmp_path / "none.trace")
        assert report.status == "ok" and report.count("create") > 0
        read = [i for i, s in enumerate(segments) for m in s if "s.parent_schema" in m]
        assert read == [], segments

        # a detach a crashed run left of a partition that is gone since: cleared
        with db.connection() as c:
            c.execute(
                "INSERT INTO partition_detach_steps (schema_name, partition_name, "
                "parent_schema, parent_name, lower_bound, upper_bound, archive_dir) VALUES "
                "('public', 'steps_rt_gone', 'public', 'steps_rt', '2020-01-01', "
                "'2020-01-02', '/nowhere')"
            )
            c.execute("DELETE FROM public.steps_rt")  # keep the table; drop a partition
            part = c.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'public.steps_rt'::regclass ORDER BY c.relname DESC LIMIT 1"
            ).fetchone()[0]
            c.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("public", part)))
        report, segments = _traced_run(db, services, tmp_path / "one.trace")
        assert report.status == "ok" and report.count("create") == 1
        read = [i for i, s in enumerate(segments) for m in s if "s.parent_schema" in m]
        assert read == [1], segments  # right after the first round trip
        with db.connection() as c:
            left = c.execute("SELECT count(*) FROM partition_detach_steps").fetchone()
        assert left == (0,)
    finally:
        db.close()
