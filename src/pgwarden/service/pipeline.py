"""The pipeline for one batch, top to bottom: parse, quality, anomalies and alerts, models.

`process_batch` is the whole story; each step is one call into a feature's
public functions:

1. claim the batch row (a finished batch is never taken again);
2. parse the payload once, with the value-size check; the same frame feeds
   the quality checks and the models;
3. quality: check and store the result (`quality.store_batch`), idempotent on
   the batch id;
4. anomalies and alerts for a newly stored batch (`quality.after_batch`, one
   transaction), then their notifications (`alerts.deliver_now`);
5. decide: a batch rejected by quality, or with a violation at or above
   `pipeline.block_severity`, is recorded with its reason and does not feed
   the models;
6. models: run the model DAG on the frame (`models.run_cycle`), idempotent
   on the cycle id derived from the batch id;
7. persist the batch's processing record.

Exactly once in effect: a retried or duplicated job (a worker killed
mid-batch, a second delivery) never duplicates outputs, and never skips
one: the after-batch step records its completion in `batch_steps` in its
own transaction, and a retry runs it whenever that record is missing (a
crash between the quality commit and this one used to lose it for good).

Coalescing (`pipeline.coalesce_batches` above 1): a worker's job also claims
the batches of its source queued right behind it (their jobs share the
source's lock, which its own holds, so nobody else can start them), marks
them as its group (`coalesced_into`) in that claim's transaction, checks,
stores and alerts on each alone, runs the models once over the accepted
ones' records (`batch:<first batch>`), and finishes every batch and the
others' queued jobs in one closing commit. A group that fails is formed
again, the same, by whichever of its jobs runs next, so no record reaches
two cycles; the cycle is run once or replayed.

Durability: no commit of a batch waits for the WAL flush while the worker has
a next job in hand (`pipeline.flush_wait` 'idle'); the closing commit, which
also finishes the batch's job and fetches the next (service/handoff.py),
waits when there is none, or always with 'batch'. PostgreSQL flushes WAL in
order, so a durable step implies every step before it, and a server crash
leaves a prefix of the steps, which the retried job resumes like a worker
killed at that point. The after-batch step waits when it queued
deliveries, since they are sent before the batch closes.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pgwarden import alerts, models, quality
from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError
from pgwarden.quality import BatchResult, BatchStatus, Violation
from pgwarden.service.handoff import JOB_COLUMNS, Claimed, Handoff
from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOutcome:
    batch_id: str
    status: str  # DONE, REJECTED, SKIPPED (already finished)
    records: int = 0
    level: str | None = None
    overall: float | None = None
    reject_reason: str | None = None
    cycle_id: str | None = None
    models_ok: int = 0
    models_failed: int = 0
    seconds: float = 0.0
    #: milliseconds per step of this batch: claim, parse, quality, alerts, models, finish
    #: (of its whole group when it was processed with others)
    stages: dict[str, float] = field(default_factory=dict)
    #: batches processed together with this one's model cycle, itself included
    batches: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def process_batch(
    services: Services,
    batch_id: str,
    *,
    handoff: Handoff | None = None,
    claimed: Claimed | None = None,
) -> ProcessOutcome:
    """Run one batch through the pipeline; a finished batch is skipped.

    With a `handoff` (the worker's job of this batch), the batch's closing
    transaction also finishes that job, fetches the worker's next one and
    claims its batch: that job's run gets it as `claimed`, without a round
    trip of its own.
    An unexpected error marks the batch FAILED with the error and re-raises,
    so procrastinate retries the job (a FAILED batch may be claimed again).
    """
    q = Queries("pgwarden.service", services.db.schema)
    started = time.monotonic()
    clock = _Stages()
    row: tuple[Any, ...] | None
    if claimed is not None:
        row = claimed.row
    else:
        with services.db.connection() as conn:
            # one round trip (pipeline mode): BEGIN, SET, UPDATE, COMMIT
            with conn.pipeline(), conn.transaction():
                conn.execute(q["async_commit_local"])  # a lost claim is claimed again
                cur = conn.execute(q["claim_batch"], {"batch_id": batch_id})
            row = cur.fetchone()
    clock.lap("claim")
    if row is None:
        log.info("batch %s already processed; skipping", batch_id, extra={"action": "skip"})
        if handoff is not None:  # its job is finished here too, or nobody finishes it
            _finish_and_hand_off(services, q, [], handoff)
        return ProcessOutcome(batch_id, "SKIPPED")
    in_hand = time.perf_counter()
    try:
        group = _group_for(services, q, row, handoff)
        if group is None:
            outcome = _process_claimed(services, q, row, started, clock, handoff)
        else:
            outcome = _process_group(services, q, row, group, started, clock, handoff)
        trace_batch(batch_id, in_hand, outcome.stages, outcome.batches)
        return outcome
    except Exception as exc:
        _finish(services, q, batch_id, "FAILED", error=f"{type(exc).__name__}: {exc}"[:2000])
        log.exception("batch %s failed", batch_id, extra={"action": "batch_failed"})
        raise


class _Stages:
    """Milliseconds per pipeline step, lap by lap."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._t) * 1000.0
        self._t = now


def _process_claimed(
    services: Services,
    q: Queries,
    row: tuple[Any, ...],
    started: float,
    clock: _Stages,
    handoff: Handoff | None,
) -> ProcessOutcome:
    batch_id, source, received_at, _fmt, _payload, metadata = row[:6]
    outcome, frame = _check(services, row, clock)
    if outcome["status"] == "DONE":
        cycle_id = cycle_id_for(batch_id)
        report = models.run_cycle(
            services,
            cycle_id,
            received_at,
            cycle_data(batch_id, source, received_at, frame, metadata),
            synchronous=False,  # the batch's closing commit waits for it
        )
        clock.lap("models")
        ok, failed = _count_runs(report)
        outcome.update(cycle_id=cycle_id, models_ok=ok, models_failed=failed)
    _close_group(services, q, [outcome], [], handoff)
    return _outcome(outcome, started, clock)


def _check(services: Services, row: tuple[Any, ...], clock: _Stages) -> tuple[dict[str, Any], Any]:
    """One claimed batch parsed, checked, stored, alerted on: (its outcome as finish_batch
    records it, DONE while the models are still to run, or REJECTED with its reason;
    its frame for the models)."""
    batch_id, source, received_at, fmt, payload, metadata = row[:6]
    if payload is None:
        return _params(batch_id, "REJECTED", reason="payload no longer stored"), None
    frame, unreadable = parse(services, bytes(payload), fmt, source)
    clock.lap("parse")
    try:
        batch = quality.make_batch(
            batch_id=batch_id,
            source=source,
            received_at=received_at,
            data=frame if frame is not None else bytes(payload),
            fmt=None if frame is not None else fmt,
            metadata=metadata,
        )
        result = check_and_alert(
            services, batch, frame=frame, reject_reason=unreadable, clock=clock
        )
    except PgwardenError as exc:
        # A malformed batch is recorded as rejected with its reason, never retried.
        return _params(batch_id, "REJECTED", reason=str(exc)), None
    reason = rejection(result, services.config.get("pipeline.block_severity"))
    outcome = _params(
        batch_id,
        "DONE" if reason is None else "REJECTED",
        records=result.records,
        level=result.scores.level.value if result.scores else None,
        overall=result.scores.overall if result.scores else None,
        reason=reason,
    )
    return outcome, frame


@dataclass(frozen=True)
class Group:
    """The other batches of a claimed batch's model cycle (`pipeline.coalesce_batches`)."""

    group_id: str  #: the batch the group was formed on: its cycle is `batch:<group_id>`
    members: list[tuple[Any, ...]]  #: claim rows, without the claimed batch's own
    job_ids: list[int]  #: their jobs still queued: they succeed with the closing commit


def _group_for(
    services: Services, q: Queries, row: tuple[Any, ...], handoff: Handoff | None
) -> Group | None:
    """The group a claimed batch's models run with, or None: the batch goes alone.

    A batch marked as a group's (`coalesced_into`) always goes with it: its records
    belong to that group's cycle, whichever of the group's jobs runs first after a
    crash or a failure. Otherwise a worker's job forms a new group of the batches
    queued behind it under the same lock, which cannot start while it runs.
    """
    batch_id, source, payload, group_id = row[0], row[1], row[4], row[7]
    if group_id is not None:
        name, params = "coalesce_again", {"group_id": group_id, "batch_id": batch_id}
    else:
        most = services.config.get("pipeline.coalesce_batches")
        if most <= 1 or handoff is None or handoff.lock is None or payload is None:
            return None
        group_id, name = batch_id, "coalesce_new"
        params = {
            "batch_id": batch_id,
            "source": source,
            "lock": handoff.lock,
            "task": handoff.task_name,
            "more": most - 1,
            "bytes": len(payload),
            "max_bytes": services.config.get("pipeline.coalesce_max_mb") * 1024 * 1024,
        }
    with services.db.connection() as conn:
        # one round trip (pipeline mode): BEGIN, SET, the claim, COMMIT
        with conn.pipeline(), conn.transaction():
            conn.execute(q["async_commit_local"])  # a lost claim is claimed again
            cur = conn.execute(q[name], params)
        rows = cur.fetchall()
    if not rows and name == "coalesce_new":
        return None
    return Group(group_id, [r[:8] for r in rows], [r[8] for r in rows if r[8] is not None])


def _process_group(
    services: Services,
    q: Queries,
    row: tuple[Any, ...],
    group: Group,
    started: float,
    clock: _Stages,
    handoff: Handoff | None,
) -> ProcessOutcome:
    """Each batch of the group checked, scored and alerted on alone; one model cycle over
    the accepted ones' records, in their order; all finished in one closing commit."""
    rows = sorted([row, *group.members], key=lambda r: (r[2], r[0]))
    finished: dict[str, dict[str, Any]] = {}
    accepted: list[tuple[tuple[Any, ...], Any]] = []
    for r in rows:
        finished[r[0]], frame = _check(services, r, clock)
        if finished[r[0]]["status"] == "DONE":
            accepted.append((r, frame))
    for cycle_id, cycle_rows, data in _group_cycles(group.group_id, accepted):
        report = models.run_cycle(services, cycle_id, data["received_at"], data, synchronous=False)
        ok, failed = _count_runs(report)
        for r in cycle_rows:
            finished[r[0]].update(cycle_id=cycle_id, models_ok=ok, models_failed=failed)
    clock.lap("models")
    fault_point("between_group_models_and_close")
    _close_group(services, q, list(finished.values()), group.job_ids, handoff)
    return _outcome(finished[row[0]], started, clock, len(rows))


def _group_cycles(
    group_id: str, accepted: list[tuple[tuple[Any, ...], Any]]
) -> list[tuple[str, list[tuple[Any, ...]], dict[str, Any]]]:
    """(cycle id, its batches' rows, its `ctx.data`) of a group's accepted batches: one
    cycle over their frames end to end; one cycle per batch when the frames cannot be
    put together (columns of types that do not meet): the same data gives the same
    answer on a retry, so the cycle ids stay the group's."""
    if not accepted:
        return []
    import polars as pl

    first, frames = accepted[0][0], [frame for _, frame in accepted]
    try:
        frame = stack(frames)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        log.info(
            "group %s: the batches' columns do not meet (%s); their models run batch by batch",
            group_id,
            exc,
            extra={"action": "coalesce_split", "batch_id": group_id},
        )
        return [
            (cycle_id_for(r[0]), [r], cycle_data(r[0], r[1], r[2], f, r[5])) for r, f in accepted
        ]
    data = cycle_data(group_id, first[1], min(r[2] for r, _ in accepted), frame, first[5])
    data["batch_ids"] = [r[0] for r, _ in accepted]
    return [(cycle_id_for(group_id), [r for r, _ in accepted], data)]


def stack(frames: list[Any]) -> Any:
    """The frames end to end, as one: a column missing from a frame is null there, an
    all-null column takes the others' type, integers meet floats as floats. Any other
    difference of types raises ValueError: polars' relaxed concat would cast a number
    into a struct's field, or a struct into another's, and change the values."""
    import polars as pl

    if len(frames) == 1:
        return frames[0]
    schema: dict[str, Any] = {}
    for frame in frames:
        for name, dtype in frame.schema.items():
            have = schema.setdefault(name, dtype)
            if dtype == have or dtype == pl.Null:
                continue
            if have == pl.Null:
                schema[name] = dtype
            elif have.is_numeric() and dtype.is_numeric():
                schema[name] = pl.Float64 if have.is_float() or dtype.is_float() else pl.Int64
            else:
                raise ValueError(f"column {name!r} is {have} in one batch and {dtype} in another")
    return pl.concat(
        [
            frame.select(
                pl.col(n).cast(t) if n in frame.schema else pl.lit(None, t).alias(n)
                for n, t in schema.items()
            )
            for frame in frames
        ]
    )


def parse(services: Services, payload: bytes, fmt: str, source: str) -> tuple[Any, str | None]:
    """The payload read once, with the value-size check: (frame, None) or (None, reason)."""
    limit = quality.options_from_config(services.config).max_value_bytes
    try:
        return quality.read_batch(payload, fmt, source=source, max_value_bytes=limit), None
    except quality.BatchInvalid as exc:
        return None, str(exc)


def check_and_alert(
    services: Services,
    batch: quality.DataBatch,
    *,
    frame: Any = None,
    reject_reason: str | None = None,
    now: datetime | None = None,
    clock: _Stages | None = None,
) -> BatchResult:
    """Quality, then anomalies and alerts: store the batch's result once, raise its alerts.

    The after-batch step runs only for a batch stored now (a retried job
    returns the stored result). If it fails, the error is logged and the
    stored batch stays: alerts must not lose data. Neither commit waits for
    the WAL flush unless deliveries are queued: the caller's closing commit
    does (see the module docstring).
    """
    stored = quality.store_batch(
        services, batch, frame=frame, reject_reason=reject_reason, now=now, synchronous=False
    )
    if clock is not None:
        clock.lap("quality")
    fault_point("between_quality_and_after_batch")
    # Not only when stored now: a retry after a crash right here must still run it.
    _anomalies_and_alerts(services, stored.result)
    if clock is not None:
        clock.lap("alerts")
    return stored.result


def _anomalies_and_alerts(services: Services, result: BatchResult) -> None:
    tz = ZoneInfo(services.db.settings.timezone)
    q = Queries("pgwarden.service", services.db.schema)
    try:
        with services.db.connection() as conn, conn.transaction():
            # the step's record commits with its effects, or neither does
            step = {"batch_id": result.batch_id, "step": AFTER_BATCH_STEP}
            with conn.pipeline():  # one round trip: BEGIN, SET, INSERT
                conn.execute(q["async_commit_local"])
                claimed = conn.execute(q["claim_step"], step)
            if claimed.fetchone() is None:
                return  # done already (a retried job)
            outcome = quality.after_batch(conn, services.db.schema, result, services.config, tz)
            if outcome is not None and outcome.alerts.get("deliveries"):
                # they are sent right after this commit: it must be durable first
                conn.execute(q["sync_commit_local"])
    except Exception as exc:
        log.error(
            "after-batch step failed for batch %s (%s: %s); the batch stays stored",
            result.batch_id,
            type(exc).__name__,
            exc,
            exc_info=True,
            extra={"action": "quality_hook_failed", "batch_id": result.batch_id},
        )
        return
    if outcome is not None:
        alerts.deliver_now(services, outcome.alerts.get("deliveries", []), result.checked_at)


AFTER_BATCH_STEP = "after_batch"

#: Fault injection for tests: PGWARDEN_FAULT=<point>:<n> SIGKILLs this process
#: the n-th time it reaches <point> (a crash between two commits, on demand).
_FAULT = os.environ.get("PGWARDEN_FAULT", "")
_fault_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    if not _FAULT:
        return
    point, _, nth = _FAULT.partition(":")
    if point != name:
        return
    _fault_hits[name] = _fault_hits.get(name, 0) + 1
    if str(_fault_hits[name]) == (nth or "1"):
        log.warning("fault injection: killing this process at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)


#: Benchmarks: PGWARDEN_TRACE_BATCHES=<file> appends "pid in_hand done stages batch_id"
#: per batch (perf_counter seconds from the claim's return to the closing commit's;
#: stages as name=ms,..., then batches=n for a group of n processed together, whose
#: one line holds the whole group's times), so a worker's idle time between batches
#: and where its time goes are measured where they happen, in the worker.
_TRACE = os.environ.get("PGWARDEN_TRACE_BATCHES", "")


def trace_batch(batch_id: str, in_hand: float, stages: dict[str, float], batches: int = 1) -> None:
    if not _TRACE:
        return
    done = time.perf_counter()
    steps = ",".join(f"{name}={ms:.3f}" for name, ms in stages.items()) or "-"
    if batches > 1:
        steps += f",batches={batches}"
    fd = os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{os.getpid()} {in_hand:.7f} {done:.7f} {steps} {batch_id}\n".encode())
    finally:
        os.close(fd)


SWEEP_SETTLE = 60.0  # seconds a finished batch is left alone before the sweep looks at it
SWEEP_LIMIT = 100  # batches per sweep


def sweep_after_batch(services: Services, limit: int = SWEEP_LIMIT) -> int:
    """Run the after-batch step of finished batches that have no record of it.

    A batch whose step failed (an exception, logged) is finished without it;
    the retry path never sees it again. Returns how many were run.
    """
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                q["incomplete_after_batch"], {"settle": SWEEP_SETTLE, "limit": limit}
            ).fetchall()
        ]
    done = 0
    for batch_id in ids:
        result = quality.get_batch(services, batch_id)
        if result is None:
            continue
        _anomalies_and_alerts(services, result)
        done += 1
    if done:
        log.info("after-batch step run for %d batch(es) that missed it", done)
    return done


def rejection(result: BatchResult, block_severity: str) -> str | None:
    """Pure: why the batch must not feed the models, or None."""
    reason = result.reject_reason if result.status is BatchStatus.REJECTED else None
    return reason or blocking_violation(result.violations, block_severity)


def blocking_violation(violations: Iterable[Violation], block_severity: str) -> str | None:
    """Pure: the reason a batch is rejected for its violations, or None."""
    if block_severity == "none":
        return None
    rank = alerts.SEVERITY_ORDER
    worst: Violation | None = None
    for v in violations:
        sev = str(v.severity)
        if rank[sev] >= rank[block_severity] and (
            worst is None or rank[sev] > rank[str(worst.severity)]
        ):
            worst = v
    if worst is None:
        return None
    where = f" on {worst.field}" if worst.field else ""
    return f"{worst.severity} violation of rule {worst.rule}{where}: {worst.count} record(s)"


def cycle_id_for(batch_id: str) -> str:
    return f"batch:{batch_id}"


def cycle_data(
    batch_id: str, source: str, received_at: datetime, frame: Any, metadata: dict[str, Any]
) -> dict[str, Any]:
    """What the model cycle sees as `ctx.data` for a pipeline batch (frame: polars)."""
    return {
        "batch_id": batch_id,
        "source": source,
        "received_at": received_at,
        "frame": frame,
        "metadata": metadata,
    }


def _count_runs(report: Any) -> tuple[int, int]:
    runs = getattr(report, "runs", ()) or ()
    statuses = [str(getattr(r.status, "value", r.status)) for r in runs]
    return statuses.count("OK"), statuses.count("FAILED") + statuses.count("TIMEOUT")


def _finish(services: Services, q: Queries, batch_id: str, status: str, **kw: Any) -> None:
    """Record a batch's outcome alone, without a hand-off (a failure: its job is retried)."""
    _close_group(services, q, [_params(batch_id, status, **kw)], [], None)


def _outcome(
    params: dict[str, Any], started: float, clock: _Stages, batches: int = 1
) -> ProcessOutcome:
    clock.lap("finish")
    return ProcessOutcome(
        params["batch_id"],
        params["status"],
        records=params["records"] or 0,
        level=params["level"],
        overall=params["overall"],
        reject_reason=params["reject_reason"],
        cycle_id=params["cycle_id"],
        models_ok=params["models_ok"] or 0,
        models_failed=params["models_failed"] or 0,
        seconds=time.monotonic() - started,
        stages=dict(clock.ms),
        batches=batches,
    )


def _params(
    batch_id: str,
    status: str,
    *,
    records: int | None = None,
    level: str | None = None,
    overall: float | None = None,
    reason: str | None = None,
    error: str | None = None,
    cycle_id: str | None = None,
    models_ok: int | None = None,
    models_failed: int | None = None,
) -> dict[str, Any]:
    """finish_batch's parameters: a batch's outcome as recorded."""
    return {
        "batch_id": batch_id,
        "status": status,
        "records": records,
        "level": level,
        "overall": overall,
        "reject_reason": reason,
        "error": error,
        "cycle_id": cycle_id,
        "models_ok": models_ok,
        "models_failed": models_failed,
    }


def _close_group(
    services: Services,
    q: Queries,
    outcomes: list[dict[str, Any]],
    job_ids: list[int],
    handoff: Handoff | None,
) -> None:
    """The closing transaction of one batch, or of a group: every batch's outcome, and
    the jobs still queued for a group's other batches (`job_ids`), which succeed here."""
    if handoff is not None:
        _finish_and_hand_off(services, q, outcomes, handoff, job_ids)
        return
    # The batch's closing commit waits for the WAL flush, which makes every
    # earlier step of the batch durable too (see the module docstring).
    # One round trip (pipeline mode): BEGIN, UPDATE(s), COMMIT.
    with services.db.connection() as conn, conn.pipeline(), conn.transaction():
        _record_outcomes(conn, q, outcomes, job_ids)


def _record_outcomes(
    conn: Any, q: Queries, outcomes: list[dict[str, Any]], job_ids: list[int] | None
) -> None:
    """The batches' outcomes, and their queued jobs succeeded, in the caller's transaction."""
    for params in outcomes:
        conn.execute(q["finish_batch"], params)
    if job_ids:
        conn.execute(q["finish_group_jobs"], {"job_ids": job_ids})


def _finish_and_hand_off(
    services: Services,
    q: Queries,
    outcomes: list[dict[str, Any]],
    handoff: Handoff,
    job_ids: list[int] | None = None,
) -> None:
    """The closing transaction that also finishes the batch's job and fetches the next job.

    `outcomes` empty: a skipped batch (finished already), whose job is finished all the
    same. A group's (several outcomes) also finishes its other batches' queued jobs
    (`job_ids`), before the fetch, which must not return one of them.

    One round trip (pipeline mode): BEGIN, UPDATE, finish, fetch and claim,
    COMMIT. The batch and its job commit together, so a job is never durably
    succeeded while its batch is not DONE; the next job and its batch's claim
    commit together too, so a crash leaves the next batch claimed by a job
    that procrastinate's stalled-job recovery retries (a claim is taken again).
    With a next job in hand and `pipeline.flush_wait` 'idle', the commit does
    not wait for the WAL flush: the worker goes on at once, the WAL writer
    flushes within wal_writer_delay, and any later commit that waits makes
    this one durable too. Without a next job it waits, so a drained queue is always durable.
    A job taken from this worker meanwhile (the stalled-job recovery) is left
    to procrastinate, as before.
    """
    job = {
        "job_id": handoff.job_id,
        "worker_id": handoff.worker_id,
        "queues": handoff.queues,
        "flush_wait": services.config.get("pipeline.flush_wait"),
        "claim_task": handoff.task_name,
    }
    with services.db.connection() as conn:
        with conn.pipeline(), conn.transaction():
            _record_outcomes(conn, q, outcomes, job_ids)
            own = conn.execute(q["finish_own_job"], job)
            fetched = conn.execute(q["fetch_next_job"], job)
        ours = own.fetchone() is not None  # else procrastinate's own finish reports it
        row = fetched.fetchone()
    if row is None or row[0] is None:
        handoff.finished(ours, None)
        return
    next_job, batch = row[: len(JOB_COLUMNS)], row[len(JOB_COLUMNS) + 1 :]
    handoff.finished(ours, next_job, Claimed(batch) if batch[0] is not None else None)


def clear_old_payloads(services: Services) -> int:
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        cur = conn.execute(
            q["clear_old_payloads"], {"hours": services.config.get("pipeline.keep_payload_hours")}
        )
        return cur.rowcount
