"""Small queued batches of one source share one model cycle (pipeline.coalesce_batches):
each batch is still checked and stored alone, every record reaches the models once, and
a group that failed is formed again, the same, by whichever of its jobs runs next."""

from __future__ import annotations

import json

import pytest

from pgwarden.demo.models import register_demo_models
from pgwarden.service import pipeline
from pgwarden.service.ingest import ingest
from pgwarden.service.worker import run_worker


def _batch(services, source: str, batch_id: str, n: int = 6, *, pad: int = 0) -> None:
    records = [
        {"id": f"{batch_id}-{i}", "timestamp": "2026-11-29T10:00:00Z", "value": 50.0 + i,
         "category": "A", "user_id": f"u{i}", **({"pad": "x" * pad} if pad else {})}
        for i in range(n)
    ]  # fmt: skip
    ingest(services, source, "\n".join(json.dumps(r) for r in records).encode(), batch_id=batch_id)


def _drain(services, name: str = "w-coalesce") -> None:
    run_worker(services, wait=False, install_signal_handlers=False, name=name, queues=["pipeline"])


def _spike_keys(conn) -> list[str]:
    """The spike model's output keys (source:id, one per record it saw), PRIMARY only."""
    rows = conn.execute(
        "SELECT entity_key FROM detection_model_run_outputs "
        "WHERE model_id = 'demo.spike' AND role = 'PRIMARY' ORDER BY entity_key"
    ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def coalescing(services):
    register_demo_models(services)
    services.config.set("pipeline.coalesce_batches", 3, who="test")
    return services


def test_queued_batches_of_one_source_share_a_model_cycle(coalescing, conn):
    services = coalescing
    for i in range(7):
        _batch(services, "a", f"a-{i}")
        if i < 2:
            _batch(services, "b", f"b-{i}")
    _drain(services)
    rows = conn.execute(
        "SELECT batch_id, status, cycle_id, coalesced_into, records FROM ingest_batches "
        "ORDER BY batch_id"
    ).fetchall()
    assert {r[1] for r in rows} == {"DONE"} and all(r[4] == 6 for r in rows)
    cycles = {r[0]: r[2] for r in rows}
    # a's jobs run in their order: groups of three behind the first, then the last alone
    assert cycles == {
        "a-0": "batch:a-0", "a-1": "batch:a-0", "a-2": "batch:a-0",
        "a-3": "batch:a-3", "a-4": "batch:a-3", "a-5": "batch:a-3",
        "a-6": "batch:a-6",
        "b-0": "batch:b-0", "b-1": "batch:b-0",
    }  # fmt: skip
    assert {r[0]: r[3] for r in rows}["a-6"] is None  # nothing queued behind it: no group
    # every job succeeded once; each batch was checked and evaluated on its own
    jobs = conn.execute(
        "SELECT status, count(*) FROM procrastinate_jobs WHERE queue_name = 'pipeline' GROUP BY 1"
    ).fetchall()
    assert jobs == [("succeeded", 9)]
    assert conn.execute("SELECT count(*) FROM quality_batches").fetchone() == (9,)
    assert conn.execute("SELECT count(*) FROM quality_evaluations").fetchone() == (9,)
    # every record reached the models once, in its group's one cycle
    keys = _spike_keys(conn)
    expected = sorted(
        f"{s}:{s}-{b}-{i}" for s, n in (("a", 7), ("b", 2)) for b in range(n) for i in range(6)
    )
    assert keys == expected
    assert conn.execute("SELECT count(*) FROM detection_cycles").fetchone() == (4,)


def test_a_rejected_batch_stays_out_of_its_groups_cycle(coalescing, conn):
    services = coalescing
    _batch(services, "a", "a-0")
    ingest(services, "a", b"{not json at all", batch_id="a-1")
    _batch(services, "a", "a-2")
    _drain(services)
    rows = dict(conn.execute("SELECT batch_id, status FROM ingest_batches").fetchall())
    assert rows == {"a-0": "DONE", "a-1": "REJECTED", "a-2": "DONE"}
    assert _spike_keys(conn) == sorted(f"a:a-{b}-{i}" for b in (0, 2) for i in range(6))
    cycle = conn.execute("SELECT cycle_id FROM ingest_batches WHERE batch_id = 'a-1'").fetchone()
    assert cycle == (None,)


@pytest.mark.parametrize("fail_at", ["models", "closing commit"])
def test_a_failed_group_is_formed_again_and_its_records_reach_the_models_once(
    coalescing, conn, monkeypatch, fail_at
):
    """The group's first attempt fails before the models or after their commit; the next
    job run for any of its batches (here: a member's, called directly) runs the same
    group: the cycle is run once, or replayed, never a second set of outputs."""
    services = coalescing
    for i in range(3):
        _batch(services, "a", f"a-{i}")
    real_cycle, real_close = pipeline.models.run_cycle, pipeline._close_group
    failed = []

    def run_cycle(*args, **kwargs):
        if fail_at == "models" and not failed:
            failed.append(1)
            raise RuntimeError("models down")
        return real_cycle(*args, **kwargs)

    def close(services, q, outcomes, job_ids, handoff):
        if fail_at == "closing commit" and len(outcomes) > 1 and not failed:
            failed.append(1)
            raise RuntimeError("lost before the closing commit")
        return real_close(services, q, outcomes, job_ids, handoff)

    monkeypatch.setattr(pipeline.models, "run_cycle", run_cycle)
    monkeypatch.setattr(pipeline, "_close_group", close)
    _drain(services)
    assert failed == [1]
    states = dict(conn.execute("SELECT batch_id, status FROM ingest_batches").fetchall())
    assert states == {"a-0": "FAILED", "a-1": "PROCESSING", "a-2": "PROCESSING"}
    groups = conn.execute("SELECT DISTINCT coalesced_into FROM ingest_batches").fetchall()
    assert groups == [("a-0",)]
    # a-0's job waits for its retry; its members' jobs are still queued behind it
    jobs = dict(
        conn.execute(
            "SELECT args->>'batch_id', status FROM procrastinate_jobs WHERE queue_name = 'pipeline'"
        ).fetchall()
    )
    assert jobs == {"a-0": "todo", "a-1": "todo", "a-2": "todo"}

    outcome = pipeline.process_batch(services, "a-2")
    assert outcome.status == "DONE" and outcome.batches == 3
    assert outcome.cycle_id == "batch:a-0"
    rows = conn.execute("SELECT status, cycle_id FROM ingest_batches").fetchall()
    assert rows == [("DONE", "batch:a-0")] * 3
    assert _spike_keys(conn) == sorted(f"a:a-{b}-{i}" for b in range(3) for i in range(6))
    assert conn.execute("SELECT count(*) FROM detection_cycles").fetchone() == (1,)
    # the other batches' queued jobs (a-0's retry too) succeeded with the group; a-2's
    # own job, not run by a worker here, finds its batch done when it runs
    jobs = dict(
        conn.execute(
            "SELECT args->>'batch_id', status FROM procrastinate_jobs WHERE queue_name = 'pipeline'"
        ).fetchall()
    )
    assert jobs == {"a-0": "succeeded", "a-1": "succeeded", "a-2": "todo"}
    assert pipeline.process_batch(services, "a-2").status == "SKIPPED"


def test_a_group_stops_at_its_payload_limit(coalescing, conn):
    services = coalescing
    services.config.set("pipeline.coalesce_max_mb", 1, who="test")
    for i in range(4):
        _batch(services, "a", f"a-{i}", n=4, pad=100_000)  # about 400 kB each
    _drain(services)
    cycles = dict(conn.execute("SELECT batch_id, cycle_id FROM ingest_batches").fetchall())
    # two of them fit in 1 MB, a third would not
    assert cycles == {
        "a-0": "batch:a-0",
        "a-1": "batch:a-0",
        "a-2": "batch:a-2",
        "a-3": "batch:a-2",
    }


def test_without_the_setting_every_batch_has_its_own_cycle(services, conn):
    register_demo_models(services)
    for i in range(3):
        _batch(services, "a", f"a-{i}")
    _drain(services)
    rows = conn.execute(
        "SELECT batch_id, cycle_id, coalesced_into FROM ingest_batches ORDER BY 1"
    ).fetchall()
    assert rows == [(f"a-{i}", f"batch:a-{i}", None) for i in range(3)]
