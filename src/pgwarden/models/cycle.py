"""`run_cycle`: pin the registry, claim the cycle id, execute, persist, close.

A cycle id runs once. A session-level advisory lock on the borrowed
connection makes a second session's attempt fail at once (CycleInProgress);
a cycle that already finished (OK or PARTIAL) is returned from storage
without running anything, so a retried job never duplicates outputs. A cycle
left RUNNING by a session that died (its lock is gone) or one that FAILED is
cleaned and run again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.pool import autocommit
from pgwarden.db.queries import Queries
from pgwarden.models.errors import CycleInProgress, GraphCycle, ModelFieldInvalid
from pgwarden.models.executor import CycleReport, VersionRun, cycle_status, execute
from pgwarden.models.registry import Registry, get_registry
from pgwarden.models.store import DbSink, stored_runs
from pgwarden.services import Services

log = logging.getLogger(__name__)

CYCLE_ID_MAX = 200  # characters


def check_cycle_args(cycle_id: Any, cycle_time: Any) -> None:
    if not isinstance(cycle_id, str) or not 1 <= len(cycle_id) <= CYCLE_ID_MAX:
        raise ModelFieldInvalid("cycle_id", cycle_id, f"expected 1 to {CYCLE_ID_MAX} characters")
    if not isinstance(cycle_time, datetime) or cycle_time.utcoffset() is None:
        raise ModelFieldInvalid(
            "cycle_time", cycle_time, "expected a timezone-aware datetime (UTC inside)"
        )


def run_cycle(
    services: Services,
    cycle_id: str,
    cycle_time: datetime,
    data: Any,
    *,
    registry: Registry | None = None,
    strict: bool | None = None,
    synchronous: bool = True,
) -> CycleReport:
    """Run every ACTIVE version of every enabled model once on `data`.

    `synchronous=False` lets even the cycle's opening and closing commits
    return before the WAL flush: for a caller whose own later commit waits for
    it (the pipeline's batch record), which makes the whole cycle durable too.
    Returns the CycleReport (per-version status, durations, errors). Raises
    ModelFieldInvalid for a bad cycle id or naive time, CycleInProgress when
    another session runs the same id, GraphCycle when strict and the graph
    has a cycle (the cycle is then stored as FAILED and may be re-run).
    """
    check_cycle_args(cycle_id, cycle_time)
    registry = registry or get_registry(services)
    if strict is None:
        strict = bool(services.config.get("models.strict"))
    q = registry.queries
    schema = registry.schema
    with services.db.connection() as conn, autocommit(conn):
        lock = {"schema": schema, "cycle_id": cycle_id}
        # one round trip: the lock, the commit mode, the stored cycle if any
        with conn.pipeline():
            got_cur = conn.execute(q["try_cycle_lock"], lock)
            conn.execute(q["async_commit"])
            existing_cur = conn.execute(q["get_cycle"], {"cycle_id": cycle_id})
        got = got_cur.fetchone()
        if not (got and got[0]):
            with contextlib.suppress(psycopg.Error):
                conn.execute(q["sync_commit"])
            raise CycleInProgress(cycle_id)
        try:
            return _run_locked(
                conn,
                q,
                registry,
                cycle_id,
                cycle_time,
                data,
                strict,
                synchronous,
                existing_cur.fetchone(),
            )
        finally:
            # A broken connection releases the lock by itself. One round trip.
            with contextlib.suppress(psycopg.Error), conn.pipeline():
                conn.execute(q["sync_commit"])
                conn.execute(q["cycle_unlock"], lock)


def _run_locked(
    conn: psycopg.Connection,
    q: Queries,
    registry: Registry,
    cycle_id: str,
    cycle_time: datetime,
    data: Any,
    strict: bool,
    synchronous: bool,
    existing: Any,
) -> CycleReport:
    if existing is not None and existing[6] in ("OK", "PARTIAL"):
        log.info(
            "cycle %s already ran (%s); returning the stored result",
            cycle_id,
            existing[6],
            extra={"action": "cycle_replayed"},
        )
        return _stored_report(conn, q, existing)

    snapshot = registry.snapshot(conn)
    t0 = time.perf_counter()
    plan_error: GraphCycle | None = None
    try:
        plan = snapshot.plan(strict=strict)
        plan_json = plan.to_dict()
    except GraphCycle as exc:
        plan_error, plan, plan_json = exc, None, {"cycles": [" -> ".join(p) for p in exc.paths]}
    params = {
        "cycle_id": cycle_id,
        "cycle_time": cycle_time,
        "fingerprint": snapshot.fingerprint,
        "plan": Jsonb(plan_json),
    }
    if existing is None:
        conn.execute(q["insert_cycle"], params)  # one statement: its own transaction
    else:
        with conn.transaction():
            # Left RUNNING by a session that died, or FAILED: start it again, clean.
            old = {"cycle_id": cycle_id, "cycle_time": existing[1]}
            conn.execute(q["delete_cycle_outputs"], old)
            conn.execute(q["delete_cycle_runs"], old)
            conn.execute(q["restart_cycle"], params)

    sink = DbSink(conn, q, cycle_id, cycle_time)
    # The per-version commits skip the WAL flush wait; the cycle's closing
    # commit (below, after RESET) waits for it. WAL is flushed in order, so once
    # the cycle is durably OK/PARTIAL every run before it is durable too, and a
    # crash before that leaves the cycle RUNNING, which a re-run cleans. (The
    # session is in that mode since run_cycle's first round trip.)
    try:
        if plan_error is not None:
            raise plan_error
        assert plan is not None
        runs = execute(
            snapshot,
            plan,
            data,
            cycle_id=cycle_id,
            cycle_time=cycle_time,
            model_for=registry.model_for,
            sink=sink,
            conn=conn,
        )
    except Exception as exc:
        with contextlib.suppress(psycopg.Error):
            conn.execute(q["sync_commit"])
        _finish(conn, q, cycle_id, t0, "FAILED", [], 0, f"{type(exc).__name__}: {exc}")
        raise
    status = cycle_status(runs)
    with conn.pipeline():  # one round trip
        if synchronous:
            conn.execute(q["sync_commit"])
        duration = _finish(conn, q, cycle_id, t0, status, runs, sink.rows, None)
    report = CycleReport(
        cycle_id=cycle_id,
        cycle_time=cycle_time,
        status=status,
        fingerprint=snapshot.fingerprint,
        duration_ms=duration,
        runs=tuple(runs),
        blocked=dict(plan.blocked),
        cycles=tuple(" -> ".join(p) for p in plan.cycles),
        output_rows=sink.rows,
    )
    counts = report.counts()
    log.info(
        "cycle %s %s in %.1f ms: %d ok, %d failed, %d skipped, %d timeout, %d output rows",
        cycle_id,
        status,
        duration,
        counts["OK"],
        counts["FAILED"],
        counts["SKIPPED"],
        counts["TIMEOUT"],
        sink.rows,
        extra={"action": "cycle_done"},
    )
    return report


def _finish(
    conn: psycopg.Connection,
    q: Queries,
    cycle_id: str,
    t0: float,
    status: str,
    runs: Sequence[VersionRun],
    rows: int,
    error: str | None,
) -> float:
    duration = (time.perf_counter() - t0) * 1000.0
    counts = {s: sum(r.status == s for r in runs) for s in ("OK", "FAILED", "SKIPPED", "TIMEOUT")}
    conn.execute(
        q["finish_cycle"],
        {
            "cycle_id": cycle_id,
            "duration_ms": duration,
            "status": status,
            "ok": counts["OK"],
            "failed": counts["FAILED"],
            "skipped": counts["SKIPPED"],
            "timeout": counts["TIMEOUT"],
            "output_rows": rows,
            "error": error,
        },
    )
    return duration


def _stored_report(conn: psycopg.Connection, q: Queries, row: Any) -> CycleReport:
    plan = row[7] or {}
    runs = stored_runs(conn, q, row[0])
    return CycleReport(
        cycle_id=row[0],
        cycle_time=row[1],
        status=row[6],
        fingerprint=row[5] or "",
        duration_ms=row[4] or 0.0,
        runs=tuple(runs),
        blocked=dict(plan.get("blocked", {})),
        cycles=tuple(plan.get("cycles", [])),
        output_rows=sum(r.output_count for r in runs),
        replayed=True,
    )


def get_cycle(services: Services, cycle_id: str) -> CycleReport | None:
    """The stored report of a finished or running cycle (replayed=True), or None."""
    q = Queries("pgwarden.models", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["get_cycle"], {"cycle_id": cycle_id}).fetchone()
        return None if row is None else _stored_report(conn, q, row)
