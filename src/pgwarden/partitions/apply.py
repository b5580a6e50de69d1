"""Apply a plan: one short transaction per table, under lock_timeout, with retries.

Why it is shaped this way:
- A session advisory lock makes one maintainer the leader; a second one
  returns at once (`pg_try_advisory_lock`), it never queues.
- Each table's DDL runs in its own transaction with `SET LOCAL lock_timeout`:
  a lock that cannot be had within the timeout aborts only that table, which
  is retried with growing, jittered pauses and otherwise reported and skipped.
  Application queries queue behind a waiting DDL statement for at most the
  timeout, never longer.
- A table's statements go to the server in pipeline mode: its whole
  transaction (BEGIN, SET LOCAL, every CREATE and ATTACH, COMMIT) is one
  round trip, not one per statement. Tables whose work is simple go further
  (batch.py): their transactions, each still its own, share one pipeline.
- New partitions are created as plain tables and then ATTACHed. The locks,
  PostgreSQL 15-18, for a parent with no rows in its default partition:
    CREATE TABLE c (LIKE parent ...)   ACCESS SHARE on the parent (read its shape)
    ALTER TABLE parent ATTACH c        SHARE UPDATE EXCLUSIVE on the parent
                                       (readers and writers go on), ACCESS
                                       EXCLUSIVE on c (new, nobody waits on it)
                                       and on the default partition, which it
                                       scans (empty: no time)
    CREATE TABLE c PARTITION OF parent ACCESS EXCLUSIVE on the parent (every
                                       reader and writer queues behind it until
                                       the table's transaction commits) and on
                                       the default partition, which it scans
  Measured on PostgreSQL 15 (60 parents shaped like benchmarks/partitions.py,
  7 partitions per parent in one pipelined transaction, the two ways
  alternating parent by parent, 2 loaded cores): median per partition
  4.49 ms PARTITION OF against 4.64 ms create-then-ATTACH without a default
  partition, 12.83 ms against 12.94 ms with an empty one; median per-parent
  ratio 1.03 and 1.02. Same speed, so the way that never blocks the parent's
  readers is the one used.
  A table that gets rows before ATTACH (default rescue, restore) first gets a
  CHECK matching its bounds, so ATTACH need not scan it; the CHECK is dropped
  afterwards.
- Removal tries the short path first, per table and per run: one
  transaction under a short lock_timeout (`partitions.short_lock_timeout`)
  that detaches or drops all the table's expired partitions and commits (its
  first statement locks the parent before anything else). Only when that
  lock is not granted (the table is busy) does it fall back to DETACH ...
  CONCURRENTLY, partition by partition, where PostgreSQL allows it (no
  default partition), else to the same transaction under the full
  lock_timeout with retries. Each table's
  result says which path it took; an interrupted detach is finalized next
  run.
- Each table's short path is its own transaction. Several tables in one
  transaction, each under a SAVEPOINT (a lock timeout would roll back only
  that table, which then takes its fallback), was measured and not adopted:
  the same 783 drops of 115 tables sent by hand in one pipeline cost 260-270
  ms of server CPU with one transaction per table, 270-280 with 4 tables per
  transaction, 290 with 8, 290-300 with 16, 300-310 with all 115 in one (PG
  15, load 2.4). A drop's cost is its catalog work and the truncation of its
  files at commit, whatever the grouping; BEGIN and COMMIT are not what it
  costs. And grouping would change who waits: every table of a group keeps
  its parent's ACCESS EXCLUSIVE lock until the group commits, so a reader of
  the group's first table queues behind the later tables' work and their
  lock waits (up to the short lock_timeout each), not just its own table's
  work; a group also holds all its tables' locks at once (about six per
  dropped partition: table, TOAST table and index, two indexes), counted
  against max_locks_per_transaction.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from pgwarden.db.queries import Queries
from pgwarden.partitions import archive, ddl
from pgwarden.partitions.planner import (
    ARCHIVE,
    CREATE,
    CREATE_DEFAULT,
    DETACH,
    DROP,
    FINALIZE,
    Action,
    TableState,
)

log = logging.getLogger(__name__)

# Session statements shared with other features (RESET lock_timeout, a row count).
_DB = Queries("pgwarden.db")

RETRYABLE = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)
T = TypeVar("T")
Statement = sql.SQL | sql.Composed


@dataclass(frozen=True)
class ApplySettings:
    lock_timeout: float = 2.0  # seconds
    retries: int = 3
    backoff: float = 0.2  # seconds, doubled per attempt, with jitter
    detach_concurrently: bool = True
    short_lock_timeout: float = 0.1  # seconds, the short removal path's one try
    parallel: int = 1  # connections a run's batch spreads its tables over (batch.py)


@dataclass
class ActionResult:
    action: Action
    status: str  # ok, failed, skipped
    duration_ms: float = 0.0
    rows_moved: int = 0
    archive_file: str | None = None
    error: str | None = None
    path: str | None = None  # removals: short, concurrent or plain (see TableApplier)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.action.to_dict(),
            "status": self.status,
            "duration_ms": round(self.duration_ms, 2),
            "rows_moved": self.rows_moved,
            "archive_file": self.archive_file,
            "error": self.error,
            "path": self.path,
        }


@dataclass
class TableResult:
    table: str
    status: str  # ok, failed
    started_at: datetime
    duration_ms: float
    actions: list[ActionResult] = field(default_factory=list)
    error: str | None = None
    attempts: int = 1
    removal_path: str | None = None  # short, concurrent or plain; None: nothing removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration_ms, 2),
            "attempts": self.attempts,
            "removal_path": self.removal_path,
            "error": self.error,
            "actions": [a.to_dict() for a in self.actions],
        }


def with_retries(
    fn: Callable[[], T], s: ApplySettings, rng: random.Random, what: str
) -> tuple[T, int]:
    """Run `fn`; on a lock timeout or deadlock pause (growing, jittered) and retry."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(), attempt
        except RETRYABLE as exc:
            if attempt > s.retries:
                raise
            pause = s.backoff * (2 ** (attempt - 1)) * (0.5 + rng.random())
            log.info(
                "%s: %s; retry %d/%d in %.2f s",
                what,
                type(exc).__name__,
                attempt,
                s.retries,
                pause,
                extra={"action": "partition_retry"},
            )
            time.sleep(pause)


class TableApplier:
    """Applies one table's actions on an autocommit connection."""

    def __init__(
        self,
        conn: psycopg.Connection,
        q: Queries,
        state: TableState,
        s: ApplySettings,
        rng: random.Random,
        steps: list[tuple[Any, ...]],
    ) -> None:
        self.conn = conn
        self.q = q
        self.state = state
        self.s = s
        self.rng = rng
        # this parent's pending detach steps, from the run's one read of every parent's
        # (detach_steps_open's rows after the parent's two columns)
        self.steps = steps
        p = state.policy
        self.parent = ddl.ident(p.table.schema, p.table.name)
        self.tz = p.tz
        self.key_type = state.key_type or ""
        self.key_column = state.key_column or ""
        self.attempts = 1
        self.removal_path: str | None = None

    def run(self, actions: list[Action]) -> list[ActionResult]:
        results: list[ActionResult] = self._resume_detaches()
        finalize = [a for a in actions if a.kind == FINALIZE]
        creates = [a for a in actions if a.kind in (CREATE, CREATE_DEFAULT)]
        removals = [a for a in actions if a.kind in (ARCHIVE, DETACH, DROP)]
        for a in finalize:
            results.append(self._timed(a, functools.partial(self._finalize, a)))
        if creates:
            results.extend(self._create_all(creates))
        if removals:
            results.extend(self._remove_all(removals))
        return results

    # -- statements a batch of tables can send together (see batch.py) ---

    def create_statements(self, creates: list[Action]) -> list[Statement]:
        """One transaction's statements making `creates` (none with a rescue), BEGIN to COMMIT."""
        out: list[Statement] = [sql.SQL("BEGIN"), ddl.set_lock_timeout(self.s.lock_timeout)]
        for a in creates:
            child = ddl.ident(a.schema, a.partition)
            out.append(ddl.create_like(child, self.parent))
            if a.kind == CREATE_DEFAULT:
                out.append(ddl.attach_default(self.parent, child))
                continue
            assert a.lower is not None and a.upper is not None and not a.rescue
            out.append(ddl.attach(self.parent, child, a.lower, a.upper, self.key_type, self.tz))
        out.append(sql.SQL("COMMIT"))
        return out

    def removal_statements(self, batch: list[Action]) -> list[Statement]:
        """The short path's one transaction, BEGIN to COMMIT (see `_batch_once`), without
        its lock_timeout: the batch sets the short one for the session around all of them."""
        out: list[Statement] = [sql.SQL("BEGIN")]
        drops = [ddl.ident(a.schema, a.partition) for a in batch if a.kind == DROP]
        for a in batch:
            if a.kind == DETACH:
                out.append(ddl.detach(self.parent, ddl.ident(a.schema, a.partition)))
        if drops:
            out.append(ddl.drop_tables(drops))
        out.append(sql.SQL("COMMIT"))
        return out

    # -- creation ---------------------------------------------------------

    def _create_all(self, creates: list[Action]) -> list[ActionResult]:
        """All of a table's new partitions in one transaction: they appear together or not."""
        moved: dict[int, int] = {}
        started = time.perf_counter()

        # Without a rescue nothing needs a result back before COMMIT: the whole
        # transaction goes out in one round trip (pipeline mode). A rescue reads
        # the parent's columns and the moved row counts, so it runs statement
        # by statement.
        pipelined = not any(a.rescue for a in creates)

        def once() -> None:
            moved.clear()
            with self._pipeline(pipelined), self.conn.transaction():
                self.conn.execute(ddl.set_lock_timeout(self.s.lock_timeout))
                columns: list[str] | None = None
                for i, a in enumerate(creates):
                    child = ddl.ident(a.schema, a.partition)
                    self.conn.execute(ddl.create_like(child, self.parent))
                    if a.kind == CREATE_DEFAULT:
                        self.conn.execute(ddl.attach_default(self.parent, child))
                        continue
                    assert a.lower is not None and a.upper is not None
                    if a.rescue:
                        default = self.state.default
                        assert default is not None
                        if columns is None:
                            columns = [
                                r[0]
                                for r in self.conn.execute(
                                    self.q["parent_columns"],
                                    {
                                        "schema_name": self.state.policy.table.schema,
                                        "table_name": self.state.policy.table.name,
                                    },
                                )
                            ]
                        cur = self.conn.execute(
                            ddl.move_rows(
                                ddl.ident(default.schema, default.name),
                                child,
                                self.key_column,
                                columns,
                                a.lower,
                                a.upper,
                                self.key_type,
                                self.tz,
                            )
                        )
                        moved[i] = max(cur.rowcount, 0)
                        if moved[i]:
                            self.conn.execute(
                                ddl.add_bounds_check(
                                    child,
                                    self.key_column,
                                    a.lower,
                                    a.upper,
                                    self.key_type,
                                    self.tz,
                                )
                            )
                    self.conn.execute(
                        ddl.attach(self.parent, child, a.lower, a.upper, self.key_type, self.tz)
                    )
                    if moved.get(i):
                        self.conn.execute(ddl.drop_bounds_check(child))

        try:
            _, self.attempts = with_retries(once, self.s, self.rng, str(self.state.policy.table))
        except psycopg.Error as exc:
            ms = (time.perf_counter() - started) * 1000
            return [ActionResult(a, "failed", ms, error=_err(exc)) for a in creates]
        ms = (time.perf_counter() - started) * 1000 / len(creates)
        return [
            ActionResult(a, "ok", ms, rows_moved=moved.get(i, 0)) for i, a in enumerate(creates)
        ]

    # -- removal ----------------------------------------------------------

    def _remove_all(self, removals: list[Action]) -> list[ActionResult]:
        """Detach or drop the expired partitions: short path first, else the careful one.

        Plain drops and detaches (not archives, not detaches left pending) go
        together: with `detach_concurrently` on, one try under the short
        lock_timeout and no retry; if the lock is not granted, DETACH
        CONCURRENTLY partition by partition (PostgreSQL forbids it with a
        default partition: then the same one transaction, under the full
        lock_timeout with retries). With `detach_concurrently` off the batch
        goes straight to that last way. Archives and pending detaches follow,
        one partition at a time, as before.
        """
        concurrent = self.s.detach_concurrently and self.state.default is None
        batch = [a for a in removals if a.kind in (DROP, DETACH) and not a.pending]
        results: list[ActionResult] = []
        failed = False
        if batch:
            batch_results = self._remove_batch(batch, concurrent)
            failed = any(r.status != "ok" for r in batch_results)
            results.extend(batch_results)
        for a in removals:
            if a in batch:
                continue
            if failed:
                # after a failure (a lock, a detach left pending) the rest waits for the next run
                results.append(ActionResult(a, "skipped", error="an earlier removal failed"))
                continue
            result = self._timed(a, functools.partial(self._remove_one, a, concurrent))
            failed = result.status != "ok"
            results.append(result)
        return results

    def _remove_batch(self, batch: list[Action], concurrent: bool) -> list[ActionResult]:
        if self.s.detach_concurrently:
            started = time.perf_counter()
            try:
                self._batch_once(batch, self.s.short_lock_timeout)
            except RETRYABLE as exc:
                log.info(
                    "%s: short removal path not granted (%s); falling back to %s",
                    self.state.policy.table,
                    type(exc).__name__,
                    "DETACH CONCURRENTLY" if concurrent else "retries",
                    extra={"action": "partition_short_path_fallback"},
                )
            except psycopg.Error as exc:
                return self._batch_results(batch, started, "short", exc)
            else:
                return self._batch_results(batch, started, "short")
            if concurrent:
                self.removal_path = "concurrent"
                results: list[ActionResult] = []
                for a in batch:
                    if results and results[-1].status != "ok":
                        results.append(
                            ActionResult(a, "skipped", error="an earlier removal failed")
                        )
                        continue
                    r = self._timed(a, functools.partial(self._remove_one, a, True))
                    r.path = "concurrent"
                    results.append(r)
                return results
        started = time.perf_counter()
        try:
            _, attempts = with_retries(
                functools.partial(self._batch_once, batch, self.s.lock_timeout),
                self.s,
                self.rng,
                str(self.state.policy.table),
            )
            self.attempts = max(self.attempts, attempts)
        except psycopg.Error as exc:
            return self._batch_results(batch, started, "plain", exc)
        return self._batch_results(batch, started, "plain")

    def _batch_once(self, batch: list[Action], timeout: float) -> None:
        """One transaction, one round trip: detach, drop, commit.

        The first lock the first statement takes is the parent's ACCESS
        EXCLUSIVE (PostgreSQL 12+ locks a partition's parent before the
        partition for DROP TABLE, and ALTER TABLE parent DETACH locks the
        parent first), so the lock wait, bounded by `timeout`, comes before any
        work, as an explicit LOCK TABLE of the parent would make it (one
        statement less per table: 115 tables, 10-20 ms of CPU).
        """
        drops = [ddl.ident(a.schema, a.partition) for a in batch if a.kind == DROP]
        with self._pipeline(True), self.conn.transaction():
            self.conn.execute(ddl.set_lock_timeout(timeout))
            for a in batch:
                if a.kind == DETACH:
                    self.conn.execute(ddl.detach(self.parent, ddl.ident(a.schema, a.partition)))
            if drops:
                self.conn.execute(ddl.drop_tables(drops))

    def _batch_results(
        self, batch: list[Action], started: float, path: str, exc: psycopg.Error | None = None
    ) -> list[ActionResult]:
        self.removal_path = path
        ms = (time.perf_counter() - started) * 1000
        if exc is not None:
            return [ActionResult(a, "failed", ms, error=_err(exc), path=path) for a in batch]
        return [ActionResult(a, "ok", ms / len(batch), path=path) for a in batch]

    def _detach(self, a: Action, concurrent: bool) -> None:
        child = ddl.ident(a.schema, a.partition)
        if a.pending:
            self._finalize(a)
        elif concurrent:
            # DETACH ... CONCURRENTLY cannot run in a transaction block: the timeout
            # is set for the session and reset right after.
            def once() -> None:
                self.conn.execute(ddl.set_lock_timeout(self.s.lock_timeout, local=False))
                try:
                    self.conn.execute(ddl.detach(self.parent, child, "CONCURRENTLY"))
                finally:
                    self.conn.execute(_DB["reset_lock_timeout"])

            with_retries(once, self.s, self.rng, f"{a.schema}.{a.partition}")
        else:
            self._in_tx(ddl.detach(self.parent, child), f"{a.schema}.{a.partition}")

    def _remove_one(self, a: Action, concurrent: bool) -> ActionResult:
        child = ddl.ident(a.schema, a.partition)
        if a.kind == ARCHIVE:
            # Check the target first and record the step: a partition detached
            # for an archive that then fails is finished or re-attached later,
            # never left outside its parent unnoticed.
            assert self.state.policy.archive_dir and a.lower and a.upper
            archive.check_target(self.state.policy.archive_dir, self._size(a))
            self.conn.execute(self.q["detach_step_begin"], self._step(a))
        self._detach(a, concurrent)
        if a.kind == DETACH:
            return ActionResult(a, "ok")
        archive_file = None
        if a.kind == ARCHIVE:
            try:
                archive_file = self._archive_and_drop(a)
            except (archive.ArchiveInvalid, OSError, psycopg.Error) as exc:
                self.conn.execute(
                    self.q["detach_step_failed"], {**self._step(a), "error": _err(exc)}
                )
                with contextlib.suppress(psycopg.Error):  # else the next run retries it
                    self._reattach(a)
                raise
            return ActionResult(a, "ok", archive_file=archive_file)
        self._in_tx(ddl.drop_tables([child]), f"{a.schema}.{a.partition}")
        return ActionResult(a, "ok", archive_file=archive_file)

    def _archive_and_drop(self, a: Action) -> str:
        """Archive a detached partition, check the file, drop the table, clear the step."""
        child = ddl.ident(a.schema, a.partition)
        p = self.state.policy
        assert p.archive_dir and a.lower and a.upper
        manifest = archive.export(
            self.conn,
            self.q,
            parent=p.table.key,
            partition=(a.schema, a.partition),
            key_column=self.key_column,
            key_type=self.key_type,
            tz=self.tz,
            lower=a.lower,
            upper=a.upper,
            directory=p.archive_dir,
        )
        count = self.conn.execute(_DB.with_names("count_rows", table=child)).fetchone()
        if count is None or count[0] != manifest.rows:
            raise archive.ArchiveInvalid(
                manifest.path, f"table has {count} rows, file {manifest.rows}; not dropped"
            )
        self._in_tx(ddl.drop_tables([child]), f"{a.schema}.{a.partition}")
        self.conn.execute(self.q["detach_step_done"], self._step(a))
        return str(manifest.path)

    def _step(self, a: Action) -> dict[str, Any]:
        p = self.state.policy
        return {
            "schema_name": a.schema,
            "partition_name": a.partition,
            "parent_schema": p.table.schema,
            "parent_name": p.table.name,
            "lower": a.lower,
            "upper": a.upper,
            "archive_dir": p.archive_dir,
        }

    def _size(self, a: Action) -> int:
        row = self.conn.execute(
            self.q["relation_size"], {"schema_name": a.schema, "table_name": a.partition}
        ).fetchone()
        return int(row[0] or 0) if row else 0

    def _resume_detaches(self) -> list[ActionResult]:
        """Finish what an earlier run left between DETACH and DROP: archive the table
        now, or, when the archive still cannot be written, attach it back."""
        p = self.state.policy
        results = []
        for schema, name, lower, upper, _dir, exists, is_partition, detach_pending in self.steps:
            a = Action(
                p.table, ARCHIVE, name, schema, lower, upper, reason="finish a pending detach"
            )
            if detach_pending:
                continue  # FINALIZE completes the detach first; the next run archives it
            if not exists or is_partition:
                # dropped already, or the DETACH never happened: nothing is pending
                self.conn.execute(self.q["detach_step_done"], self._step(a))
                continue
            results.append(self._timed(a, functools.partial(self._finish_or_reattach, a)))
        return results

    def _finish_or_reattach(self, a: Action) -> ActionResult:
        try:
            archive.check_target(self.state.policy.archive_dir or "", self._size(a))
            return ActionResult(a, "ok", archive_file=self._archive_and_drop(a))
        except (archive.ArchiveInvalid, OSError) as exc:
            self.conn.execute(self.q["detach_step_failed"], {**self._step(a), "error": _err(exc)})
            log.warning(
                "archive of detached %s.%s still fails (%s); attaching it back",
                a.schema,
                a.partition,
                _err(exc),
                extra={"action": "partition_reattach"},
            )
        self._reattach(a)
        return ActionResult(a, "ok", error="archive failed again; attached back to its parent")

    def _reattach(self, a: Action) -> None:
        assert a.lower and a.upper
        child = ddl.ident(a.schema, a.partition)
        stmt = ddl.attach(self.parent, child, a.lower, a.upper, self.key_type, self.tz)
        self._in_tx(stmt, f"{a.schema}.{a.partition}")
        self.conn.execute(self.q["detach_step_done"], self._step(a))
        log.warning(
            "attached %s.%s back to its parent: its archive could not be written",
            a.schema,
            a.partition,
            extra={"action": "partition_reattach"},
        )

    def _finalize(self, a: Action) -> ActionResult:
        child = ddl.ident(a.schema, a.partition)
        self._in_tx(ddl.detach(self.parent, child, "FINALIZE"), f"{a.schema}.{a.partition}")
        return ActionResult(a, "ok")

    # -- helpers ----------------------------------------------------------

    def _pipeline(self, on: bool) -> contextlib.AbstractContextManager[Any]:
        return self.conn.pipeline() if on else contextlib.nullcontext()

    def _in_tx(self, stmt: sql.Composed, what: str) -> None:
        def once() -> None:
            with self.conn.transaction():
                self.conn.execute(ddl.set_lock_timeout(self.s.lock_timeout))
                self.conn.execute(stmt)

        _, attempts = with_retries(once, self.s, self.rng, what)
        self.attempts = max(self.attempts, attempts)

    def _timed(self, a: Action, fn: Callable[[], ActionResult]) -> ActionResult:
        started = time.perf_counter()
        try:
            result = fn()
        except (psycopg.Error, archive.ArchiveInvalid, OSError) as exc:
            log.warning(
                "%s %s.%s failed: %s",
                a.kind,
                a.schema,
                a.partition,
                _err(exc),
                extra={"action": "partition_action_failed"},
            )
            result = ActionResult(a, "failed", error=_err(exc))
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result


def _err(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"
