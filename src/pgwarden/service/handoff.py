"""Jobs finished and fetched inside a task's own transaction (issue 16).

Between two queued batches a lone worker used to make three round trips of
procrastinate's own (finish the job, fetch the next, each a commit) on top of
the batch's closing commit. The pipeline task now does both in that closing
transaction (`Handoff`); the worker's job manager (`HandoffJobManager`) then
skips its own finish and hands the fetched job to the worker's loop at once.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from procrastinate import jobs, manager

from pgwarden.db.queries import Queries

log = logging.getLogger(__name__)

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
class Handoff:
    """What a task needs to finish its own job and fetch the worker's next one."""

    manager: HandoffJobManager
    job_id: int
    worker_id: int
    queues: list[str] | None

    def finished(self, ours: bool, next_job: tuple[Any, ...] | None) -> None:
        """The task's transaction committed: its job succeeded there (`ours`, else the job
        was no longer this worker's), and `next_job` (a row of JOB_COLUMNS) was fetched."""
        self.manager.take_handoff(self.job_id if ours else None, next_job)


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
        self._release = Queries("pgwarden.service", schema)["release_job"]
        self._lock = threading.Lock()
        self._finished: set[int] = set()
        self._prefetched: collections.deque[jobs.Job] = collections.deque()
        #: False once the worker is stopping: tasks then fetch nothing more
        self.accepting = True
        #: jobs fetched inside a task's transaction so far
        self.handed_off = 0
        #: told of each job run in a chain (its error, or None): the worker's counts
        self.on_chained_done: Callable[[str | None], None] | None = None

    def handoff_for(self, job: jobs.Job, queues: Iterable[str] | None) -> Handoff | None:
        if not self.accepting or job.id is None or job.worker_id is None:
            return None
        return Handoff(self, job.id, job.worker_id, list(queues) if queues else None)

    def take_handoff(self, job_id: int | None, next_job: tuple[Any, ...] | None) -> None:
        with self._lock:
            if job_id is not None:
                self._finished.add(job_id)
            if next_job is not None:
                row = dict(zip(JOB_COLUMNS, next_job, strict=True))
                self._prefetched.append(jobs.Job.from_row(row))
                self.handed_off += 1

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
        await super().finish_job(job=job, status=status, delete_job=delete_job)

    async def retry_job(self, job: jobs.Job, *args: Any, **kwargs: Any) -> None:
        if self._done_in_task(job):
            return  # finished already; a later failure cannot undo that commit
        await super().retry_job(job, *args, **kwargs)

    async def release_prefetched(self) -> int:
        """Put jobs fetched for this worker but never run back in the queue; returns how many."""
        with self._lock:
            ids = [j.id for j in self._prefetched if j.id is not None]
            self._prefetched.clear()
        for job_id in ids:
            await self.connector.execute_query_async(
                query=self._release,  # type: ignore[arg-type]
                job_id=job_id,
            )
        if ids:
            log.info(
                "%d prefetched job(s) put back in the queue", len(ids), extra={"action": "release"}
            )
        return len(ids)
