"""The one runner every operation goes through: a lock, a run record, a dry run, progress.

An operation takes a session-level advisory lock keyed by its name and its
target on a connection of its own. A second caller does not wait: it
records a SKIPPED run and returns. When the lock is had, runs of the same
operation and target still marked RUNNING belong to a process that died;
they are closed as FAILED ("interrupted") and their recorded progress is
what a resumable operation continues from.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.db.queries import Queries
from pgwarden.jsonable import jsonable
from pgwarden.ops.errors import OpsError, OpSkipped

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    OK = "OK"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    PARTIAL = "PARTIAL"


@dataclass(frozen=True)
class RunRecord:
    id: int
    op: str
    target: str
    status: RunStatus
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> RunRecord:
        rid, op, target, status, dry, started, finished, params, progress, result, error = row
        return cls(
            int(rid),
            op,
            target,
            RunStatus(status),
            bool(dry),
            started,
            finished,
            params or {},
            progress or {},
            result or {},
            error,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["status"] = self.status.value
        return d


@dataclass
class RunContext:
    """What an operation sees while it runs: its record id, the dry-run flag, a progress hook."""

    services: Services
    run_id: int
    op: str
    target: str
    dry_run: bool
    params: dict[str, Any]
    #: set by the operation to end as PARTIAL instead of OK
    partial: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def progress(self, **values: Any) -> None:
        """Persist progress now, in its own transaction (a killed run keeps it)."""
        with self.services.db.connection() as conn:
            conn.execute(
                queries(self.services)["run_progress"],
                {"id": self.run_id, "progress": Jsonb(values)},
            )


def queries(services: Services) -> Queries:
    return Queries("pgwarden.ops", services.db.schema)


def lock_key(op: str, target: str) -> str:
    return f"pgwarden.ops:{op}:{target}"


def run_op(
    services: Services,
    op: str,
    target: str,
    body: Callable[[RunContext], dict[str, Any] | None],
    *,
    dry_run: bool = False,
    params: dict[str, Any] | None = None,
) -> RunRecord:
    """Run `body` once under the lock of (op, target) and record it.

    Returns the finished record: OK, PARTIAL (the body said so), SKIPPED (the
    lock was taken, or the body raised OpSkipped). A failure is recorded as
    FAILED and raised as an OpsError naming the operation and the run id.
    """
    q = queries(services)
    params = params or {}
    key = lock_key(op, target)
    lock_conn = psycopg.connect(services.db.session_conninfo("pgwarden-ops-lock"), autocommit=True)
    held = False
    try:
        got = lock_conn.execute(q["try_lock"], {"key": key}).fetchone()
        held = bool(got and got[0])
        if not held:
            record = _insert(
                services,
                op,
                target,
                dry_run,
                params,
                RunStatus.SKIPPED,
                "skipped: already running (another process holds its lock)",
            )
            log.info(
                "%s on %s skipped: already running",
                op,
                target,
                extra={"action": "ops_skip", "op": op},
            )
            return record
        with services.db.connection() as conn:
            orphans = conn.execute(q["fail_orphans"], {"op": op, "target": target}).fetchall()
        if orphans:
            log.warning(
                "%s on %s: %d interrupted run(s) closed as FAILED",
                op,
                target,
                len(orphans),
                extra={"action": "ops_orphans", "op": op},
            )
        started = _insert(services, op, target, dry_run, params, RunStatus.RUNNING, None)
        ctx = RunContext(services, started.id, op, target, dry_run, params)
        try:
            result = body(ctx) or {}
        except OpSkipped as exc:
            return _finish(services, ctx.run_id, RunStatus.SKIPPED, ctx.result, str(exc))
        except BaseException as exc:
            message = str(exc) if isinstance(exc, OpsError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, KeyboardInterrupt):
                message = "interrupted (SIGINT/SIGTERM)"
            _finish(services, ctx.run_id, RunStatus.FAILED, ctx.result, message)
            log.warning(
                "%s on %s failed: %s", op, target, message, extra={"action": "ops_failed", "op": op}
            )
            if isinstance(exc, OpsError | KeyboardInterrupt):
                raise
            raise OpsError(f"{op} on {target} failed (run {ctx.run_id}): {message}") from exc
        merged = {**ctx.result, **result}
        status = RunStatus.PARTIAL if ctx.partial else RunStatus.OK
        return _finish(services, ctx.run_id, status, merged, ctx.partial)
    finally:
        # Unlocked before the close: a closed session's locks go only when its backend
        # has exited, after this returns, and a run started at once (a script's next
        # command) found the lock still held and was skipped as "already running".
        with contextlib.suppress(psycopg.Error):
            if held:
                lock_conn.execute(q["unlock"], {"key": key})
        with contextlib.suppress(psycopg.Error):
            lock_conn.close()


def _insert(
    services: Services,
    op: str,
    target: str,
    dry_run: bool,
    params: dict[str, Any],
    status: RunStatus,
    error: str | None,
) -> RunRecord:
    with services.db.connection() as conn:
        row = conn.execute(
            queries(services)["start_run"],
            {
                "op": op,
                "target": target,
                "dry_run": dry_run,
                "who": default_actor(),
                "params": Jsonb(jsonable(params)),
                "status": status.value,
                "error": error,
            },
        ).fetchone()
        assert row is not None
        found = conn.execute(queries(services)["get_run"], {"id": row[0]}).fetchone()
    assert found is not None
    return RunRecord.from_row(found)


def _finish(
    services: Services,
    run_id: int,
    status: RunStatus,
    result: dict[str, Any],
    error: str | None,
) -> RunRecord:
    with services.db.connection() as conn:
        row = conn.execute(
            queries(services)["finish_run"],
            {
                "id": run_id,
                "status": status.value,
                "result": Jsonb(jsonable(result)),
                "error": error,
            },
        ).fetchone()
    assert row is not None
    record = RunRecord.from_row(row)
    from pgwarden.ops.alerting import run_finished

    run_finished(services, record)
    return record


def list_runs(services: Services, op: str | None = None, limit: int = 50) -> list[RunRecord]:
    with services.db.connection() as conn:
        rows = conn.execute(queries(services)["list_runs"], {"op": op, "limit": limit}).fetchall()
    return [RunRecord.from_row(r) for r in rows]


def last_run(services: Services, op: str, statuses: tuple[str, ...] = ("OK",)) -> RunRecord | None:
    with services.db.connection() as conn:
        row = conn.execute(
            queries(services)["last_run"], {"op": op, "statuses": list(statuses)}
        ).fetchone()
    return RunRecord.from_row(row) if row else None
