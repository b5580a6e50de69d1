"""A batch's closing transaction finishes its own job and fetches the worker's next one
(issue 16): no job is lost, run twice or left `doing`, whatever happens around it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from procrastinate.jobs import Status

from pgwarden.errors import ConfigValueInvalid
from pgwarden.service import pipeline
from pgwarden.service.handoff import HandoffJobManager
from pgwarden.service.ingest import ingest
from pgwarden.service.job_queue import build_app
from pgwarden.service.worker import list_workers, run_worker


def _batch(services, source: str, batch_id: str) -> None:
    records = "\n".join(f'{{"id": {i}, "v": {i * 2}}}' for i in range(5))
    ingest(services, source, records.encode(), batch_id=batch_id)


def _job_states(conn) -> dict[str, tuple[str, int]]:
    rows = conn.execute(
        "SELECT args->>'batch_id', status, attempts FROM procrastinate_jobs "
        "WHERE queue_name = 'pipeline'"
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _batch_states(conn) -> dict[str, tuple[str, int]]:
    rows = conn.execute("SELECT batch_id, status, attempts FROM ingest_batches").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_worker_drains_queued_batches_through_hand_offs(services, conn):
    for i in range(8):
        _batch(services, f"src{i % 2}", f"b-{i}")
    apps = []
    run_worker(
        services,
        wait=False,
        install_signal_handlers=False,
        name="w-handoff",
        queues=["pipeline"],
        on_app=apps.append,
    )
    # every job ran once and succeeded; every batch is DONE once
    assert _job_states(conn) == {f"b-{i}": ("succeeded", 1) for i in range(8)}
    statuses = conn.execute("SELECT status, attempts FROM ingest_batches").fetchall()
    assert statuses == [("DONE", 1)] * 8
    # all but the first were fetched by the batch before them, in its transaction
    assert apps[0].job_manager.handed_off == 7
    (w,) = list_workers(services)
    assert (w.jobs_done, w.jobs_failed) == (8, 0)


def test_a_batch_failing_in_a_chain_is_retried_as_procrastinate_would(services, conn, monkeypatch):
    for i in range(6):
        _batch(services, f"src{i % 3}", f"b-{i}")
    real = pipeline.process_batch

    def failing(services, batch_id, **kwargs):
        if batch_id == "b-3":
            raise RuntimeError("kaput")
        return real(services, batch_id, **kwargs)

    monkeypatch.setattr(pipeline, "process_batch", failing)
    run_worker(
        services, wait=False, install_signal_handlers=False, name="w-fail", queues=["pipeline"]
    )
    states = _job_states(conn)
    # b-3 ran in b-2's chain, failed, and waits for its retry (RetryStrategy: 3 attempts)
    assert states.pop("b-3") == ("todo", 1)
    assert states == {f"b-{i}": ("succeeded", 1) for i in (0, 1, 2, 4, 5)}
    retry_at = conn.execute(
        "SELECT scheduled_at > now() FROM procrastinate_jobs WHERE args->>'batch_id' = 'b-3'"
    ).fetchone()
    assert retry_at == (True,)
    (w,) = list_workers(services)
    assert (w.jobs_done, w.jobs_failed) == (6, 1)
    assert "RuntimeError: kaput" in (w.last_error or "")


def test_the_closing_transaction_finishes_its_job_and_fetches_the_next(services, conn):
    _batch(services, "a", "b-1")
    _batch(services, "b", "b-2")
    _batch(services, "c", "b-3")

    async def scenario():
        app = build_app(services, pool_size=2)
        manager = app.job_manager
        assert isinstance(manager, HandoffJobManager)
        async with app.open_async():
            worker_id = await manager.register_worker()
            job = await manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
            assert job is not None and job.task_kwargs == {"batch_id": "b-1"}
            handoff = manager.handoff_for(job, ["pipeline"])
            await asyncio.to_thread(pipeline.process_batch, services, "b-1", handoff=handoff)
            after_first = _job_states(conn), _batch_states(conn)
            # the worker's next fetch is the job the transaction fetched: no query
            nxt = await manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
            # the worker's own finish of b-1 is skipped (it would fail: not 'doing')
            await manager.finish_job(job, status=Status.SUCCEEDED, delete_job=False)
            handoff = manager.handoff_for(nxt, ["pipeline"])
            claimed = manager.take_claim(nxt)
            second = await asyncio.to_thread(
                pipeline.process_batch, services, "b-2", handoff=handoff, claimed=claimed
            )
            claimed_b3 = _batch_states(conn)["b-3"]
            # the worker stops before running b-3: it goes back to the queue, unclaimed
            released = await manager.release_prefetched()
            return after_first, nxt, claimed, second, claimed_b3, released

    after_first, nxt, claimed, second, claimed_b3, released = asyncio.run(scenario())
    jobs_after_first, batches_after_first = after_first
    assert jobs_after_first == {"b-1": ("succeeded", 1), "b-2": ("doing", 0), "b-3": ("todo", 0)}
    # b-2's batch was claimed in b-1's closing transaction, with its job
    assert batches_after_first == {
        "b-1": ("DONE", 1),
        "b-2": ("PROCESSING", 1),
        "b-3": ("PENDING", 0),
    }
    assert nxt is not None and nxt.task_kwargs == {"batch_id": "b-2"}
    assert claimed is not None and claimed.row[0] == "b-2"
    assert second.status == "DONE" and second.records == 5
    assert claimed_b3 == ("PROCESSING", 1)
    assert released == 1
    assert _batch_states(conn) == {"b-1": ("DONE", 1), "b-2": ("DONE", 1), "b-3": ("PENDING", 0)}
    assert _job_states(conn) == {
        "b-1": ("succeeded", 1),
        "b-2": ("succeeded", 1),
        "b-3": ("todo", 0),
    }
    worker_of_b3 = conn.execute(
        "SELECT worker_id FROM procrastinate_jobs WHERE args->>'batch_id' = 'b-3'"
    ).fetchone()
    assert worker_of_b3 == (None,)


def test_a_job_taken_back_meanwhile_is_not_finished_by_the_batch(services, conn):
    _batch(services, "a", "b-1")

    async def scenario():
        app = build_app(services, pool_size=2)
        manager = app.job_manager
        assert isinstance(manager, HandoffJobManager)
        async with app.open_async():
            worker_id = await manager.register_worker()
            job = await manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
            handoff = manager.handoff_for(job, ["pipeline"])
            # the stalled-job recovery gave the job back to the queue while it ran
            conn.execute(
                "UPDATE procrastinate_jobs SET status = 'todo', worker_id = NULL WHERE id = %s",
                [job.id],
            )
            conn.commit()
            outcome = await asyncio.to_thread(
                pipeline.process_batch, services, "b-1", handoff=handoff
            )
            again = await manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
            claimed = manager.take_claim(again)
            rerun = await asyncio.to_thread(
                pipeline.process_batch, services, "b-1", claimed=claimed
            )
            return outcome, manager.handed_off, claimed, rerun

    outcome, handed_off, claimed, rerun = asyncio.run(scenario())
    assert outcome.status == "DONE"
    # not marked succeeded by a worker that no longer owned it; fetched again (the only
    # job) and handed to this worker, whose run of it will find the batch DONE
    assert _job_states(conn) == {"b-1": ("doing", 0)}
    assert handed_off == 1
    # its batch, DONE in the same transaction, was not claimed again: the rerun's own
    # claim finds it finished and skips it
    assert claimed is None
    assert rerun.status == "SKIPPED"
    assert _batch_states(conn) == {"b-1": ("DONE", 1)}


def test_flush_wait_refuses_an_unknown_value(services):
    with pytest.raises(ConfigValueInvalid) as err:
        services.config.set("pipeline.flush_wait", "sometimes")
    assert "pipeline.flush_wait" in str(err.value) and "sometimes" in str(err.value)
    assert services.config.get("pipeline.flush_wait") == "idle"


def test_a_worker_stopped_mid_backlog_leaves_no_job_doing(services, conn):
    for i in range(30):
        _batch(services, f"src{i % 3}", f"b-{i:02d}")
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(services,),
        kwargs={"wait": True, "name": "w-stop", "stop": stop, "queues": ["pipeline"]},
        daemon=True,
    )
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = conn.execute("SELECT count(*) FROM ingest_batches WHERE status = 'DONE'")
        if done.fetchone()[0] >= 3:
            break
        time.sleep(0.01)
    stop.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    states = _job_states(conn)
    batches = dict(conn.execute("SELECT batch_id, status FROM ingest_batches").fetchall())
    # the chain stopped at a batch boundary; the job fetched for the next batch went back
    assert 3 <= sum(s == ("succeeded", 1) for s in states.values()) < 30
    for batch_id, state in states.items():
        assert state in {("succeeded", 1), ("todo", 0)}, (batch_id, state)
        assert batches[batch_id] == ("DONE" if state[0] == "succeeded" else "PENDING")


def test_batches_arriving_while_a_worker_chains_are_all_processed(services, conn):
    """Two workers chaining while batches arrive: every batch is processed once.

    A batch and its job committed while a closing transaction runs can be fetched by
    procrastinate (whose function takes a snapshot of its own) and not be seen by that
    statement's claim; the job then claims its batch itself. The benchmark lost two
    batches so before that; this test makes the race likely, not certain."""
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=run_worker,
            args=(services,),
            kwargs={"wait": True, "name": f"w-arrivals-{n}", "stop": stop, "queues": ["pipeline"]},
            daemon=True,
        )
        for n in range(2)  # two workers contend in the fetch, which then takes a new snapshot
    ]
    for worker in workers:
        worker.start()
    ids = [f"live-{i:03d}" for i in range(150)]
    _batch(services, "src0", ids[0])
    while conn.execute("SELECT status FROM ingest_batches").fetchone()[0] != "DONE":
        time.sleep(0.005)
    for i, batch_id in enumerate(ids[1:], start=1):  # arriving while the worker chains
        _batch(services, f"src{i % 4}", batch_id)
        time.sleep(0.002)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        left = conn.execute(
            "SELECT count(*) FROM ingest_batches WHERE status <> 'DONE'"
        ).fetchone()[0]
        if left == 0:
            break
        time.sleep(0.05)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    assert _batch_states(conn) == dict.fromkeys(ids, ("DONE", 1))
    assert set(_job_states(conn).values()) == {("succeeded", 1)}


def test_a_chained_job_whose_batch_is_finished_already_is_finished_too(services, conn):
    """A duplicated or recovered job reaches a batch that is DONE: it is skipped, and its
    job is still finished and the chain goes on (it was left 'doing', holding its source's
    lock, so every later batch of that source waited for ever)."""
    for i in range(4):
        _batch(services, "same-source", f"b-{i}")
    conn.execute("UPDATE ingest_batches SET status = 'DONE', attempts = 1 WHERE batch_id = 'b-1'")
    conn.commit()
    worker = threading.Thread(
        target=run_worker,
        args=(services,),
        kwargs={"wait": False, "name": "w-skip", "queues": ["pipeline"]},
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the worker never drained the queue"
    assert _job_states(conn) == {f"b-{i}": ("succeeded", 1) for i in range(4)}
    assert _batch_states(conn) == {f"b-{i}": ("DONE", 1) for i in range(4)}
