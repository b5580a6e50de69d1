"""A worker SIGKILLed inside a group of coalesced batches (pipeline.coalesce_batches),
after the group's model cycle committed and before its closing commit: the next worker
re-forms the same group from its record, replays the cycle, and every record reaches
the models once."""

from __future__ import annotations

import json
import signal

import psycopg
import pytest

from tests.e2e.waits import stop_process, wait_for

pytestmark = pytest.mark.slow
PER_SOURCE = 6


def test_a_worker_killed_inside_a_group_loses_and_duplicates_nothing(
    cli_external, db_conninfo, tmp_path
):
    cli = cli_external
    assert cli.run("demo", "--setup-only").returncode == 0
    for key, value in (
        ("pipeline.coalesce_batches", "4"),
        ("jobs.stalled_after", "3"),
        ("jobs.recover_cron", "* * * * * */1"),
    ):
        assert cli.run("config", "set", key, value).returncode == 0
    with (tmp_path / "stream.jsonl").open("w") as fh:
        for i in range(PER_SOURCE):
            for source in ("alpha", "beta"):
                records = [
                    {"id": f"{source}-{i}-{n}", "timestamp": "2026-11-29T10:00:00Z",
                     "value": 40.0 + n, "category": "A", "user_id": f"u{n}"}
                    for n in range(10)
                ]  # fmt: skip
                fh.write(json.dumps({"source": source, "batch_id": f"{source}-{i}",
                                     "records": records}) + "\n")  # fmt: skip
    done = cli.run("batches", "ingest-many", str(tmp_path / "stream.jsonl"))
    assert done.returncode == 0, done.stderr

    cli.env["PGWARDEN_FAULT"] = "between_group_models_and_close:1"
    # one job at a time, so that the state at the kill is exactly one group's
    killed = cli.popen("worker", "-c", "1", log_name="w1.log")
    assert killed.wait(timeout=90) == -signal.SIGKILL
    del cli.env["PGWARDEN_FAULT"]
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute("SET search_path = pgwarden")
        # the first group's cycle committed; none of its batches was finished
        (cycle,) = conn.execute("SELECT cycle_id, status FROM detection_cycles").fetchall()
        assert cycle == ("batch:alpha-0", "OK")
        grouped = conn.execute(
            "SELECT batch_id, status FROM ingest_batches WHERE coalesced_into = 'alpha-0' "
            "ORDER BY 1"
        ).fetchall()
        assert grouped == [(f"alpha-{i}", "PROCESSING") for i in range(4)]

        last = cli.popen("worker", log_name="w2.log")
        finished = "SELECT count(*) FROM ingest_batches WHERE status = 'DONE'"
        try:
            wait_for(
                lambda: conn.execute(finished).fetchone()[0] == 2 * PER_SOURCE,
                60,
                "every batch DONE",
            )
        finally:
            stop_process(last, timeout=30)

        rows = conn.execute(
            "SELECT batch_id, cycle_id, coalesced_into FROM ingest_batches ORDER BY 1"
        ).fetchall()
        cycles = {r[0]: r[1] for r in rows}
        assert {cycles[f"alpha-{i}"] for i in range(4)} == {"batch:alpha-0"}
        # the killed group's cycle was replayed, not run again
        assert conn.execute(
            "SELECT count(*) FROM detection_cycles WHERE cycle_id = 'batch:alpha-0'"
        ).fetchone() == (1,)
        # every record reached each model version once, in its batch's cycle
        spike = conn.execute(
            "SELECT entity_key, count(*), min(cycle_id) FROM detection_model_run_outputs "
            "WHERE model_id = 'demo.spike' AND role = 'PRIMARY' GROUP BY 1"
        ).fetchall()
        assert len(spike) == 2 * PER_SOURCE * 10
        assert all(n == 1 for _, n, _ in spike)
        for key, _, cycle_id in spike:
            batch = key.split(":", 1)[1].rsplit("-", 1)[0]
            assert cycles[batch] == cycle_id, key
        jobs = conn.execute(
            "SELECT status, count(*) FROM procrastinate_jobs WHERE queue_name = 'pipeline' "
            "GROUP BY 1"
        ).fetchall()
        assert jobs == [("succeeded", 2 * PER_SOURCE)]
