"""Jobs finished and fetched inside a task's own transaction (issue 16).

Between two queued batches a lone worker used to make three round trips of
procrastinate's own (finish the job, fetch the next, each a commit) on top of
the batch's closing commit. The pipeline task now does both in that closing
transaction (`Handoff`); the worker's job manager (`HandoffJobManager`) then
skips its own finish and hands the fetched job to the worker's loop at once.
The same transaction claims the fetched job's batch (`Claimed`), so between
two queued batches a lone worker makes no round trip that is not also the
closing of one batch or the start of the next.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from procrastinate import jobs, manager

from pgwarden.db.queries import Queries

log = logging.getLogger(__name__)

#: seconds a stopping worker waits to unregister (its pool would wait 10 s); a row
#: left behind is pruned by the stalled-worker recovery, as after a crash
UNREGISTER_TIMEOUT = 5.0

# The column list of procrastinate's own fetch_job query (procrastinate 3.x).
JOB_COLUMNS = (
    "id",
    "status",
    "task_name",
    "priority",
    "lock",
    "queueing_lock",
    "args",
    "scheduled_at",
    "queue_name",
    "attempts",
    "worker_id",
)


@dataclass(frozen=True)
class Claimed:
    """A batch claimed in the transaction that fetched its job: claim_batch's row.

    A job whose batch that transaction could not claim has none; its run
    claims the batch itself. (The claim can miss a batch that is there: a
    batch and its job committed while the statement ran are seen by
    procrastinate's fetch, which takes a snapshot of its own, and not by the
    claim. Taking it for "finished already" lost that batch.)
    """

    row: tuple[Any, ...]


@dataclass(frozen=True)
class Handoff:
    """What a task needs to finish its own job and fetch the worker's next one."""

    manager: HandoffJobManager
    job_id: int
    worker_id: int
    queues: list[str] | None
    #: a next job of this task (the one running) has its batch claimed when fetched
    task_name: str
    #: the job's procrastinate lock (a source's jobs share one): jobs queued under it
    #: cannot start while this one runs, so their batches may join its model cycle
    lock: str | None = None

    def finished(
        self, ours: bool, next_job: tuple[Any, ...] | None, claimed: Claimed | None = None
    ) -> None:
        """The task's transaction committed: its job succeeded there (`ours`, else the job
        was no longer this worker's), `next_job` (a row of JOB_COLUMNS) was fetched, and
        `claimed`, when not None, is what claiming its batch gave."""
        self.manager.take_handoff(self.job_id if ours else None, next_job, claimed)


class HandoffJobManager(manager.JobManager):
    """procrastinate's JobManager, plus jobs finished and fetched inside a task's transaction.

    A task that finished its own job (`Handoff.finished`) is not finished
    again by the worker, and the job it fetched for the worker is what the
    worker's next `fetch_job` returns, without a round trip. Jobs fetched this
    way and never run (the worker stopped first) go back to `todo` with
    `release_prefetched`.
    """

    def __init__(self, connector: Any, schema: str) -> None:
        super().__init__(connector)
        q = Queries("pgwarden.service", schema)
        self._release, self._release_claim = q["release_job"], q["release_claim"]
        self._lock = threading.Lock()
        self._finished: set[int] = set()
        self._prefetched: collections.deque[jobs.Job] = collections.deque()
        self._claims: dict[int, Claimed] = {}
        #: False once the worker is stopping: tasks then fetch nothing more
        self.accepting = True
        #: jobs fetched inside a task's transaction so far
        self.handed_off = 0
        #: told of each job run in a chain (its error, or None): the worker's counts
        self.on_chained_done: Callable[[str | None], None] | None = None
        #: set when `pgwarden run`'s watch saw the server go: the stop skips the database
        self.lost = threading.Event()

    def handoff_for(self, job: jobs.Job, queues: Iterable[str] | None) -> Handoff | None:
        if not self.accepting or job.id is None or job.worker_id is None:
            return None
        return Handoff(
            self, job.id, job.worker_id, list(queues) if queues else None, job.task_name, job.lock
        )

    def take_handoff(
        self, job_id: int | None, next_job: tuple[Any, ...] | None, claimed: Claimed | None
    ) -> None:
        with self._lock:
            if job_id is not None:
                self._finished.add(job_id)
            if next_job is not None:
                job = jobs.Job.from_row(dict(zip(JOB_COLUMNS, next_job, strict=True)))
                self._prefetched.append(job)
                if claimed is not None and job.id is not None:
                    self._claims[job.id] = claimed
                self.handed_off += 1

    def take_claim(self, job: jobs.Job) -> Claimed | None:
        """The batch claimed with this job when it was fetched in a task's transaction."""
        with self._lock:
            return self._claims.pop(job.id, None) if job.id is not None else None

    def next_chained(self, task_name: str) -> jobs.Job | None:
        """The job fetched for this worker, if it is of `task_name` and the worker goes on.

        The task that fetched it runs it at once, in its own thread: between
        two batches the worker's loop (thread hops, its own bookkeeping) then
        costs nothing either.
        """
        with self._lock:
            if self.accepting and self._prefetched and self._prefetched[0].task_name == task_name:
                return self._prefetched.popleft()
        return None

    def chained_done(self, error: str | None) -> None:
        if self.on_chained_done is not None:
            self.on_chained_done(error)

    async def fetch_job(self, queues: Iterable[str] | None, worker_id: int) -> jobs.Job | None:
        with self._lock:
            if self._prefetched:
                return self._prefetched.popleft()
        return await super().fetch_job(queues=queues, worker_id=worker_id)

    def _done_in_task(self, job: jobs.Job) -> bool:
        with self._lock:
            if job.id in self._finished:
                self._finished.discard(job.id)
                return True
        return False

    async def finish_job(self, job: jobs.Job, status: jobs.Status, delete_job: bool) -> None:
        if self._done_in_task(job):
            return  # committed with the task's own work
        if self._gone(job):
            return
        await super().finish_job(job=job, status=status, delete_job=delete_job)

    async def retry_job(self, job: jobs.Job, *args: Any, **kwargs: Any) -> None:
        if self._done_in_task(job):
            return  # finished already; a later failure cannot undo that commit
        if self._gone(job):
            return
        await super().retry_job(job, *args, **kwargs)

    def _gone(self, job: jobs.Job) -> bool:
        """With the server gone a job's end is not written (the pool would wait 10 s in
        vain, holding up the stop): it stays `doing`, as after a crash, and the
        stalled-job recovery runs it again."""
        if not self.lost.is_set():
            return False
        log.info(
            "job %s's end not recorded: the database is gone (it will be retried)",
            job.id,
            extra={"action": "job_end_lost"},
        )
        return True

    async def unregister_worker(self, worker_id: int) -> None:
        """procrastinate's unregister, within UNREGISTER_TIMEOUT: with the database gone
        its pool waited its whole timeout (10 s) here, and the worker could not end
        (nor `pgwarden run` restart the server) before that. With the server known
        to be gone, it does not try: the row is left to the stalled-worker recovery."""
        if self.lost.is_set():
            raise ConnectionError(f"the database is gone; worker {worker_id} not unregistered")
        try:
            await asyncio.wait_for(super().unregister_worker(worker_id), UNREGISTER_TIMEOUT)
        except TimeoutError as exc:
            raise ConnectionError(
                f"could not unregister worker {worker_id} within {UNREGISTER_TIMEOUT:.0f} s"
            ) from exc

    async def release_prefetched(self) -> int:
        """Put jobs fetched for this worker but never run back in the queue; returns how many.

        Not with the server gone: the stalled-job recovery retries them."""
        if self.lost.is_set():
            return 0
        with self._lock:
            ids = [j.id for j in self._prefetched if j.id is not None]
            claims = {i: self._claims.pop(i) for i in ids if i in self._claims}
            self._prefetched.clear()
        for job_id in ids:
            await self.connector.execute_query_async(
                query=self._release,  # type: ignore[arg-type]
                job_id=job_id,
            )
            row = claims[job_id].row if job_id in claims else None
            if row is not None:  # a batch left PROCESSING would look taken in `batches list`
                await self.connector.execute_query_async(
                    query=self._release_claim,  # type: ignore[arg-type]
                    batch_id=row[0],
                )
        if ids:
            log.info(
                "%d prefetched job(s) put back in the queue", len(ids), extra={"action": "release"}
            )
        return len(ids)
