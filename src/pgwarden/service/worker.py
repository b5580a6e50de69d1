"""Running a worker: procrastinate's loop plus pgwarden's view of worker liveness.

Each worker has a row in `workers`: a beat thread keeps `last_seen` fresh and
a task middleware counts jobs and keeps the last error, so the API and
`pgwarden db status` can say who is alive. A worker killed with SIGKILL
simply stops beating; procrastinate recovers its stalled jobs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgwarden.db.queries import Queries
from pgwarden.errors import WorkerStopped
from pgwarden.service.handoff import HandoffJobManager
from pgwarden.service.job_queue import build_app
from pgwarden.services import Services

log = logging.getLogger(__name__)

BEAT_INTERVAL = 5.0  # seconds between last_seen updates
# seconds bookkeeping (counts, the stopped mark) waits for a connection: a
# count not written is given back and goes with the next write, and after a
# lost database these waits were what delayed the reconnect
BOOKKEEPING_TIMEOUT = 2.0
GC_GEN0_THRESHOLD = 20_000  # allocations between young-generation collections (Python: 700)
FETCH_POLL_INTERVAL = 0.5  # seconds between job fetches when no NOTIFY comes
OPEN_POLL = 0.2  # seconds between looks at the stop event while the job queue opens


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    hostname: str
    pid: int
    concurrency: int
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    jobs_done: int
    jobs_failed: int
    last_error: str | None
    last_error_at: datetime | None
    alive: bool


def list_workers(services: Services) -> list[WorkerInfo]:
    q = Queries("pgwarden.service", services.db.schema)
    stale = float(services.config.get("workers.stale_after"))
    with services.db.connection() as conn:
        rows = conn.execute(q["list_workers"], {"stale": stale}).fetchall()
    return [WorkerInfo(*row) for row in rows]


class _JobCounts:
    """Jobs done and failed since the last write; the beat thread takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = 0
        self.failed = 0

    def add(self, *, failed: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += int(failed)

    def take(self) -> tuple[int, int]:
        with self._lock:
            taken = (self.done, self.failed)
            self.done = self.failed = 0
        return taken

    def give_back(self, done: int, failed: int) -> None:
        with self._lock:
            self.done += done
            self.failed += failed


def _stop_handoffs(app: Any) -> None:
    if isinstance(app.job_manager, HandoffJobManager):
        app.job_manager.accepting = False


async def _release_prefetched(app: Any) -> None:
    """Jobs a last batch fetched for this worker, never run, go back to the queue."""
    manager = app.job_manager
    if isinstance(manager, HandoffJobManager):
        manager.accepting = False
        try:
            await manager.release_prefetched()
        except Exception as exc:  # the stalled-job recovery will retry them
            log.warning("could not release prefetched jobs: %s: %s", type(exc).__name__, exc)


async def _open(app: Any, stop: threading.Event | None) -> bool:
    """Open procrastinate's pool; False (and nothing left open) when `stop` comes first.

    procrastinate waits for its pool's first connection as long as
    psycopg_pool's default, 30 s: a server killed just as the worker started
    held `pgwarden run`'s restart that long, although its watch had seen the
    server go and asked the worker to stop.
    """
    opening = asyncio.ensure_future(app.open_async())
    while True:
        done, _ = await asyncio.wait({opening}, timeout=OPEN_POLL)
        if done:
            opening.result()
            return True
        if stop is not None and stop.is_set():
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
            await _close(app)
            return False


async def _close(app: Any) -> None:
    try:
        await app.close_async()
    except Exception as exc:  # a pool whose server is gone; nothing is waiting on it
        log.warning("could not close the job queue's pool: %s: %s", type(exc).__name__, exc)


def tune_gc() -> None:
    """For a process that runs a worker: the cyclic GC stops costing whole batches.

    A worker allocates many short-lived objects per batch (outputs, frames'
    rows); with Python's defaults a lone worker ran five collections per
    500-record batch and, every ~70 batches, a full one of 120-150 ms that
    walked every module and library object loaded at start. Those are frozen
    (never scanned again) and young collections come 30x less often: full
    collections take ~7 ms, and the idle gap's p95 fell from 4.4 to 1.7 ms.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_worker(services: Services, **kwargs: Any) -> None:
    """Run a worker until SIGTERM/SIGINT, `stop` is set, or (not `wait`) the queues are empty.

    On a stop the running jobs finish before the worker exits.
    """
    asyncio.run(run_worker_async(services, **kwargs))


async def run_worker_async(
    services: Services,
    *,
    concurrency: int = 1,
    name: str | None = None,
    wait: bool = True,
    queues: list[str] | None = None,
    install_signal_handlers: bool = True,
    stop: threading.Event | None = None,
    on_app: Callable[[Any], None] | None = None,
    lost: threading.Event | None = None,
) -> None:
    """Run a worker until it is stopped (`stop`, or SIGTERM/SIGINT when it owns them).

    `lost`, set with `stop` by `pgwarden run`'s watch when the server is gone,
    makes the stop skip its database steps (unregister, prefetched jobs, the
    last counts, the stopped mark): each would wait for a connection in vain,
    and what they leave is what a crash leaves, which the recovery handles.
    """
    name = name or default_worker_name()
    own_signals = (
        stop is None
        and install_signal_handlers
        and wait
        and threading.current_thread() is threading.main_thread()
    )
    if own_signals:
        tune_gc()  # the process is this worker's (`pgwarden worker`)
        # Our own stop event (not procrastinate's handlers), so that a worker
        # that stops while nobody asked it to is told apart and exits non-zero.
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    q = Queries("pgwarden.service", services.db.schema)
    app = build_app(services, pool_size=concurrency + 2, flush_job_states=False)
    if lost is not None and isinstance(app.job_manager, HandoffJobManager):
        app.job_manager.lost = lost
    if on_app is not None:
        on_app(app)

    with services.db.connection() as conn:
        conn.execute(
            q["register_worker"],
            {
                "name": name,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "concurrency": concurrency,
            },
        )

    counts = _JobCounts()

    def write_counts(error: str | None = None) -> None:
        done, failed = counts.take()
        if not (done or error):
            return
        try:
            with services.db.connection(BOOKKEEPING_TIMEOUT) as conn, conn.transaction():
                # a count lost to a server crash is harmless; nothing waits for the flush
                conn.execute(q["async_commit_local"])
                conn.execute(
                    q["jobs_done"], {"name": name, "done": done, "failed": failed, "error": error}
                )
        except Exception:  # bookkeeping must never fail a job
            counts.give_back(done, failed)
            log.exception("could not record job outcomes", extra={"action": "job_count"})

    writes: set[asyncio.Task[None]] = set()

    def write_soon(error: str | None = None) -> None:
        task = asyncio.create_task(asyncio.to_thread(write_counts, error))
        writes.add(task)
        task.add_done_callback(writes.discard)

    async def count_job(call_next: Callable[[], Any], context: Any, worker: Any) -> Any:
        """Worker middleware: wraps every job, sync or async, on the event loop.

        The counts are written in a thread beside the next job. Batch jobs
        run in a chain (service/handoff.py) are counted in memory and written
        when the chain ends, here: a write per batch cost a lone worker a
        round trip and a thread hop between two batches.
        """
        try:
            result = await call_next()
        except BaseException as exc:
            counts.add(failed=True)
            write_soon(f"{type(exc).__name__}: {exc}"[:2000])
            raise
        counts.add(failed=False)
        write_soon()
        return result

    def chained_done(error: str | None) -> None:
        """A batch job run in a chain (service/handoff.py), counted like the others."""
        counts.add(failed=error is not None)
        if error is not None:
            write_counts(error)

    if isinstance(app.job_manager, HandoffJobManager):
        app.job_manager.on_chained_done = chained_done

    stalled_after = float(services.config.get("jobs.stalled_after"))
    beat_stop = threading.Event()

    def beat() -> None:
        while not beat_stop.wait(BEAT_INTERVAL):
            try:
                # a short wait: a beat stuck in a 10 s pool wait held up the stop
                with services.db.connection(BOOKKEEPING_TIMEOUT) as conn:
                    conn.execute(q["touch_worker"], {"name": name})
            except Exception as exc:
                log.warning("worker beat failed: %s: %s", type(exc).__name__, exc)
            write_counts()

    beater = threading.Thread(target=beat, name=f"beat-{name}", daemon=True)
    beater.start()
    # Promote/archive in another process reach this worker's registry cache at once.
    from pgwarden.models import get_registry

    registry = get_registry(services)
    registry.listen()
    log.info("worker %s starting (concurrency %d)", name, concurrency, extra={"action": "worker"})
    try:
        if await _open(app, stop):
            try:
                work = asyncio.create_task(
                    app.run_worker_async(
                        name=name,
                        concurrency=concurrency,
                        wait=wait,
                        queues=queues,  # type: ignore[arg-type]  # None = every queue
                        install_signal_handlers=install_signal_handlers and stop is None,
                        additional_context={"pgwarden_worker": name},
                        worker_middleware=[count_job],
                        stalled_worker_timeout=stalled_after,
                        # three beats fit in the stalled window, so one late beat is harmless
                        update_heartbeat_interval=stalled_after / 3,
                        # procrastinate fetches again only on a NOTIFY or this poll: a
                        # source's next batch, unlocked when its previous one ends,
                        # waited up to 5 s (its default) per batch after a backlog
                        fetch_job_polling_interval=FETCH_POLL_INTERVAL,
                    )
                )
                try:
                    if stop is None:
                        await work
                    else:
                        watcher = asyncio.create_task(asyncio.to_thread(stop.wait))
                        done, _ = await asyncio.wait(
                            {work, watcher}, return_when=asyncio.FIRST_COMPLETED
                        )
                        if work not in done:
                            # running jobs finish first; they fetch no next job any more
                            _stop_handoffs(app)
                            # procrastinate stops gracefully on cancel: running jobs finish first.
                            work.cancel()
                            await asyncio.gather(work, return_exceptions=True)
                        else:
                            stop.set()
                            await watcher
                            work.result()
                            if wait:
                                # procrastinate stops quietly when a side task (the
                                # periodic deferrer, the listener) fails
                                raise WorkerStopped(
                                    f"worker {name} stopped without being asked to; the log above "
                                    "names the failed part"
                                )
                finally:
                    await _release_prefetched(app)
            finally:
                await _close(app)
    finally:
        if own_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().remove_signal_handler(sig)
        gone = lost is not None and lost.is_set()
        if writes:
            await asyncio.gather(*writes, return_exceptions=True)
        if not gone:
            # the last jobs' counts are written before the worker says it stopped
            await asyncio.to_thread(write_counts)
        registry.close()
        beat_stop.set()
        beater.join(timeout=0 if gone else BEAT_INTERVAL)
        if gone:
            log.info("worker %s stopped: the database is gone", name, extra={"action": "worker"})
        else:
            try:
                with services.db.connection(BOOKKEEPING_TIMEOUT) as conn:
                    conn.execute(q["stop_worker"], {"name": name})
            except Exception as exc:
                log.warning("could not mark worker %s stopped: %s", name, exc)
            log.info("worker %s stopped", name, extra={"action": "worker"})
