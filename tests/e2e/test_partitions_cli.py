"""`pgwarden partitions run` as cron starts it: a new process on its thread-free pool."""

from __future__ import annotations

import json

import psycopg


def test_partitions_run_from_the_command_line_creates_ahead_then_has_nothing_to_do(
    cli_external, db_conninfo
):
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.events (id bigint, ts timestamptz NOT NULL) "
            "PARTITION BY RANGE (ts)"
        )
    added = cli_external.run("partitions", "add", "public.events", "--interval", "daily")
    assert added.returncode == 0, added.stderr

    first = cli_external.run("partitions", "run", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["status"] == "ok"
    with psycopg.connect(db_conninfo) as conn:
        made = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass"
        ).fetchone()[0]
    assert made >= 5  # today and the premake ahead (4 by default)

    again = cli_external.run("partitions", "run")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("ok: 0 action(s)")
    with psycopg.connect(db_conninfo) as conn:
        runs = conn.execute(
            "SELECT status, count(*) FROM pgwarden.partition_runs GROUP BY status"
        ).fetchall()
    assert runs == [("ok", 2)]
