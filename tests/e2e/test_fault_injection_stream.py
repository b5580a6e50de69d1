"""The issue's "done when": a stream of 200 batches while a worker is SIGKILLed between
the quality commit and the after-batch commit, and the postmaster is SIGKILLed too;
then, table by table, every batch has exactly one quality row, one evaluation, one
set of model outputs, and the daily totals equal the batch table (issue 10 point 7)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgwarden.db.embedded import EmbeddedServer
from pgwarden.demo import simulator
from tests.e2e.waits import stop_process, wait_for

pytestmark = pytest.mark.slow
BATCHES = 200


def _conn(data_dir: Path) -> psycopg.Connection:
    conninfo = EmbeddedServer(data_dir).conninfo("pgwarden")
    return psycopg.connect(conninfo, autocommit=True, options="-c search_path=pgwarden")


def _scalar(data_dir: Path, sql: str) -> int:
    try:
        with _conn(data_dir) as conn:
            return conn.execute(sql).fetchone()[0]
    except (psycopg.Error, Exception):
        return -1


def test_kills_during_a_stream_lose_and_duplicate_nothing(cli_embedded, tmp_path):
    cli = cli_embedded
    data_dir = cli.data_dir
    assert cli.run("demo", "--setup-only").returncode == 0
    assert cli.run("config", "set", "jobs.stalled_after", "3").returncode == 0
    rng = random.Random(7)
    now = datetime.now(UTC) - timedelta(minutes=5)
    with (tmp_path / "stream.jsonl").open("w") as fh:
        for i in range(BATCHES):
            b = simulator.make_batch(rng, simulator.SOURCES[i % 4], i, now, size=40)
            fh.write(
                json.dumps({"source": b.source, "batch_id": f"fi-{i:04d}", "records": b.records})
                + "\n"
            )
    done = cli.run("batches", "ingest-many", str(tmp_path / "stream.jsonl"))
    assert done.returncode == 0, done.stderr

    finished = (
        "SELECT count(*) FROM ingest_batches WHERE batch_id LIKE 'fi-%' "
        "AND status IN ('DONE', 'REJECTED')"
    )
    # 1. a worker that SIGKILLs itself between the two commits of its 15th batch
    cli.env["PGWARDEN_FAULT"] = "between_quality_and_after_batch:15"
    killed = cli.popen("worker", "-c", "2", log_name="w1.log")
    assert killed.wait(timeout=90) == -signal.SIGKILL
    del cli.env["PGWARDEN_FAULT"]

    # 2. another worker; the postmaster is SIGKILLed under it mid-stream, then the
    #    worker too (a machine lost: its jobs are left 'doing')
    second = cli.popen("worker", "-c", "2", log_name="w2.log")
    try:
        wait_for(lambda: _scalar(data_dir, finished) >= 60, 90, "60 batches finished")
        pid = int((data_dir / "data" / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        second.kill()
        second.wait()
    finally:
        stop_process(second, timeout=30)

    # 3. the next command restarts the server; a last worker finishes the stream,
    #    retrying the jobs of the killed ones (stalled after 3 s)
    assert cli.run("db", "status").returncode == 0
    last = cli.popen("worker", "-c", "2", log_name="w3.log")
    try:
        wait_for(lambda: _scalar(data_dir, finished) == BATCHES, 120, "every batch finished")
    finally:
        stop_process(last, timeout=30)

    with _conn(data_dir) as conn:

        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql).fetchall()

        ids = "SELECT batch_id FROM ingest_batches WHERE batch_id LIKE 'fi-%'"
        assert rows(f"SELECT count(*) FROM ({ids}) x")[0][0] == BATCHES
        # exactly one quality row per batch
        assert (
            rows(
                f"SELECT i.batch_id, count(q.batch_id) FROM ({ids}) i "
                "LEFT JOIN quality_batches q USING (batch_id) "
                "GROUP BY 1 HAVING count(q.batch_id) <> 1"
            )
            == []
        )
        # exactly one evaluation (the after-batch step) per batch, and its record
        assert (
            rows(
                f"SELECT i.batch_id, count(e.batch_id) FROM ({ids}) i "
                "LEFT JOIN quality_evaluations e USING (batch_id) "
                "GROUP BY 1 HAVING count(e.batch_id) <> 1"
            )
            == []
        )
        assert (
            rows(
                f"SELECT i.batch_id FROM ({ids}) i LEFT JOIN batch_steps s "
                "ON s.batch_id = i.batch_id AND s.step = 'after_batch' WHERE s.batch_id IS NULL"
            )
            == []
        )
        # one model cycle per DONE batch, one run per model version, one set of outputs
        assert (
            rows(
                "SELECT i.batch_id FROM ingest_batches i LEFT JOIN detection_cycles c "
                "ON c.cycle_id = 'batch:' || i.batch_id "
                "WHERE i.batch_id LIKE 'fi-%' AND i.status = 'DONE' AND c.cycle_id IS NULL"
            )
            == []
        )
        assert (
            rows(
                "SELECT cycle_id, version_id, ordinal, count(*) FROM detection_model_run_outputs "
                "WHERE cycle_id LIKE 'batch:fi-%' GROUP BY 1, 2, 3 HAVING count(*) > 1"
            )
            == []
        )
        assert (
            rows(
                "SELECT r.cycle_id, r.version_id FROM detection_model_runs r "
                "LEFT JOIN detection_model_run_outputs o USING (cycle_id, version_id) "
                "WHERE r.cycle_id LIKE 'batch:fi-%' "
                "GROUP BY 1, 2, r.output_count HAVING count(o.cycle_id) <> r.output_count"
            )
            == []
        )
        assert rows("SELECT count(*) FROM detection_model_run_outputs")[0][0] > 0
        # daily totals equal the batch table, source by source and day by day
        assert (
            rows(
                "SELECT coalesce(d.source, q.source), coalesce(d.day, q.day), d.batches, q.n "
                "FROM quality_daily d FULL JOIN ("
                "  SELECT source, (received_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n "
                "  FROM quality_batches GROUP BY 1, 2) q "
                "ON q.source = d.source AND q.day = d.day "
                "WHERE d.batches IS DISTINCT FROM q.n"
            )
            == []
        )
