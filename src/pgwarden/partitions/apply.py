"""Apply a plan: one short transaction per table, under lock_timeout, with retries.

Why it is shaped this way:
- A session advisory lock makes one maintainer the leader; a second one
  returns at once (`pg_try_advisory_lock`), it never queues.
- Each table's DDL runs in its own transaction with `SET LOCAL lock_timeout`:
  a lock that cannot be had within the timeout aborts only that table, which
  is retried with growing, jittered pauses and otherwise reported and skipped.
  Application queries queue behind a waiting DDL statement for at most the
  timeout, never longer.
- New partitions are created as plain tables and then ATTACHed: ATTACH takes
  SHARE UPDATE EXCLUSIVE on the parent, so readers and writers go on, where
  CREATE TABLE ... PARTITION OF takes ACCESS EXCLUSIVE. A table that gets
  rows before ATTACH (default rescue, restore) first gets a CHECK matching
  its bounds, so ATTACH need not scan it; the CHECK is dropped afterwards.
- Removing a partition detaches it CONCURRENTLY when PostgreSQL allows it
  (no default partition); an interrupted detach is finalized next run.
"""

from __future__ import annotations

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

RETRYABLE = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)
T = TypeVar("T")


@dataclass(frozen=True)
class ApplySettings:
    lock_timeout: float = 2.0  # seconds
    retries: int = 3
    backoff: float = 0.2  # seconds, doubled per attempt, with jitter
    detach_concurrently: bool = True


@dataclass
class ActionResult:
    action: Action
    status: str  # ok, failed, skipped
    duration_ms: float = 0.0
    rows_moved: int = 0
    archive_file: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.action.to_dict(),
            "status": self.status,
            "duration_ms": round(self.duration_ms, 2),
            "rows_moved": self.rows_moved,
            "archive_file": self.archive_file,
            "error": self.error,
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration_ms, 2),
            "attempts": self.attempts,
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
    ) -> None:
        self.conn = conn
        self.q = q
        self.state = state
        self.s = s
        self.rng = rng
        p = state.policy
        self.parent = ddl.ident(p.table.schema, p.table.name)
        self.tz = p.tz
        self.key_type = state.key_type or ""
        self.key_column = state.key_column or ""
        self.attempts = 1

    def run(self, actions: list[Action]) -> list[ActionResult]:
        results: list[ActionResult] = []
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

    # -- creation ---------------------------------------------------------

    def _create_all(self, creates: list[Action]) -> list[ActionResult]:
        """All of a table's new partitions in one transaction: they appear together or not."""
        moved: dict[int, int] = {}
        started = time.perf_counter()

        def once() -> None:
            moved.clear()
            with self.conn.transaction():
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
        concurrent = self.s.detach_concurrently and self.state.default is None
        plain_drops = [a for a in removals if a.kind == DROP and not a.pending and not concurrent]
        results: list[ActionResult] = []
        if plain_drops:
            results.extend(self._drop_batch(plain_drops))
        failed = False
        for a in removals:
            if a in plain_drops:
                continue
            if failed:
                # after a failure (a lock, a detach left pending) the rest waits for the next run
                results.append(ActionResult(a, "skipped", error="an earlier removal failed"))
                continue
            result = self._timed(a, functools.partial(self._remove_one, a, concurrent))
            failed = result.status != "ok"
            results.append(result)
        return results

    def _drop_batch(self, drops: list[Action]) -> list[ActionResult]:
        """Drop a table's expired partitions in one short transaction (parent locked first)."""
        started = time.perf_counter()

        def once() -> None:
            with self.conn.transaction():
                self.conn.execute(ddl.set_lock_timeout(self.s.lock_timeout))
                self.conn.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(self.parent)
                )
                self.conn.execute(
                    ddl.drop_tables([ddl.ident(a.schema, a.partition) for a in drops])
                )

        try:
            _, self.attempts = with_retries(once, self.s, self.rng, str(self.state.policy.table))
        except psycopg.Error as exc:
            ms = (time.perf_counter() - started) * 1000
            return [ActionResult(a, "failed", ms, error=_err(exc)) for a in drops]
        ms = (time.perf_counter() - started) * 1000 / len(drops)
        return [ActionResult(a, "ok", ms) for a in drops]

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
                    self.conn.execute("RESET lock_timeout")

            with_retries(once, self.s, self.rng, f"{a.schema}.{a.partition}")
        else:
            self._in_tx(ddl.detach(self.parent, child), f"{a.schema}.{a.partition}")

    def _remove_one(self, a: Action, concurrent: bool) -> ActionResult:
        child = ddl.ident(a.schema, a.partition)
        self._detach(a, concurrent)
        if a.kind == DETACH:
            return ActionResult(a, "ok")
        archive_file = None
        if a.kind == ARCHIVE:
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
            count = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(child)).fetchone()
            if count is None or count[0] != manifest.rows:
                raise archive.ArchiveInvalid(
                    manifest.path, f"table has {count} rows, file {manifest.rows}; not dropped"
                )
            archive_file = str(manifest.path)
        self._in_tx(ddl.drop_tables([child]), f"{a.schema}.{a.partition}")
        return ActionResult(a, "ok", archive_file=archive_file)

    def _finalize(self, a: Action) -> ActionResult:
        child = ddl.ident(a.schema, a.partition)
        self._in_tx(ddl.detach(self.parent, child, "FINALIZE"), f"{a.schema}.{a.partition}")
        return ActionResult(a, "ok")

    # -- helpers ----------------------------------------------------------

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
