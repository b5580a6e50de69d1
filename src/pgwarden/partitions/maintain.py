"""Public entry points: plan (dry run), run maintenance, per-table status.

Every run reads the policies fresh (hot reload), asks the catalog once,
plans in pure Python and applies table by table. Every run, dry or not, is
recorded in `partition_runs`, each table's outcome in `partition_run_tables`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.db import migrate
from pgwarden.partitions import batch, catalog, store
from pgwarden.partitions.apply import ApplySettings, TableApplier, TableResult
from pgwarden.partitions.planner import (
    Action,
    Plan,
    PlanWarning,
    TableState,
    plan,
    quiet_until,
)
from pgwarden.partitions.policy import Policy, TableName, parse_table_name

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

# Per-table outcomes wait until this many are pending and the next table is about
# to send statements of its own; then they go in one round trip, and the rest go
# with the run's finish. A run that dies loses at most this many rows of
# partition_run_tables, never a partition. Tables whose work the batch did
# (batch.py) send nothing more, so their outcomes go with the finish: writing
# them in between would only add round trips between work already done and the
# end of the run.
RECORD_BATCH = 16

Progress = Callable[[str, int, int], None]  # (table, done, total)


@dataclass
class RunReport:
    run_id: int | None
    status: str  # ok, partial, failed, skipped
    started_at: datetime
    finished_at: datetime
    dry_run: bool
    plan: Plan
    tables: list[TableResult] = field(default_factory=list)
    message: str = ""
    # tables whose last run's stamp held: their children were not read (nothing changed)
    quiet: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def count(self, kind: str, status: str = "ok") -> int:
        return sum(
            1
            for t in self.tables
            for a in t.actions
            if a.action.kind == kind and a.status == status
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "plan": self.plan.to_dict(),
            "tables": [t.to_dict() for t in self.tables],
            "quiet_tables": self.quiet,
        }


@dataclass(frozen=True)
class TableStatus:
    table: str
    enabled: bool
    interval: str
    partitions: int
    oldest: datetime | None  # lower bound of the oldest partition
    newest: datetime | None  # upper bound of the newest partition
    horizon_seconds: float | None  # newest bound minus now
    rows_in_default: int | None
    next_action: str | None
    warnings: int
    last_run: datetime | None
    last_status: str | None
    last_success: datetime | None
    last_duration_ms: float | None
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("oldest", "newest", "last_run", "last_success"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def leader_key(schema: str) -> int:
    """A stable 64-bit advisory lock key per pgwarden schema."""
    digest = hashlib.sha256(f"pgwarden.partitions:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _settings(services: Services) -> ApplySettings:
    cfg = services.config
    return ApplySettings(
        lock_timeout=cfg.get("partitions.lock_timeout"),
        retries=cfg.get("partitions.lock_retries"),
        backoff=cfg.get("partitions.retry_backoff"),
        detach_concurrently=cfg.get("partitions.detach_concurrently"),
        short_lock_timeout=cfg.get("partitions.short_lock_timeout"),
        # the run's own connection and the others come from one pool
        parallel=min(cfg.get("partitions.parallel"), services.db.settings.pool_max_size),
    )


def _policies(
    services: Services, table: str | None, found: list[Policy] | None = None
) -> list[Policy]:
    """The policies to run (all, or `table`'s); `found` when they are already read."""
    policies = store.list_policies(services.db) if found is None else found
    if table is not None:
        wanted = parse_table_name(table)
        policies = [p for p in policies if p.table == wanted]
        if not policies:
            store.get_policy(services.db, table)  # raises the "no policy" error
    return policies


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _read(conn: psycopg.Connection, services: Services, policies: list[Policy]) -> list[TableState]:
    return catalog.read_states(conn, store.queries(services.db), policies)


def plan_all(services: Services, now: datetime | None = None, table: str | None = None) -> Plan:
    """The dry run: what the next run would do, and warnings. Writes nothing."""
    now = _now(now)
    policies = _policies(services, table)
    with services.db.connection() as conn:
        states = _read(conn, services, policies)
        pending = conn.execute(store.queries(services.db)["detach_steps_all"]).fetchall()
    result = plan(states, now, services.config.get("partitions.max_create_periods"))
    wanted = {p.table for p in policies}
    for parent_schema, parent_name, schema, name, started, error in pending:
        parent = TableName(parent_schema, parent_name)
        if parent not in wanted:
            continue
        result.warnings.append(
            PlanWarning(
                parent,
                "pending_detach",
                f"{schema}.{name} was detached by pgwarden at {started:%Y-%m-%d %H:%M:%S%z} "
                "for an archive that has not finished"
                + (f" ({error})" if error else "")
                + "; the next run archives it or attaches it back",
                partition=name,
            )
        )
    return result


def run_maintenance(
    services: Services,
    now: datetime | None = None,
    table: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    revision: str | None = None,
) -> RunReport:
    """Plan and apply under the leader lock; returns at once if another run holds it.

    With `revision`, the schema must be at that migration revision (raises PgwardenError
    naming both otherwise, before anything is locked or written): the check rides in the
    run's first round trip, so a cron-started run pays no round trips of its own for it.
    """
    now = _now(now)
    started = datetime.now(UTC)
    db = services.db
    q = store.queries(db)
    rng = random.Random()
    # A pooled connection in autocommit mode: the session advisory lock is held on
    # it for the run and released before it goes back (DETACH CONCURRENTLY needs
    # autocommit; every other step opens its own short transaction).
    #
    # No automatic prepared statements during a run: a run executes each query
    # once, and psycopg answers the DROP of a partition by deallocating every
    # prepared statement of the session, which it may do in the middle of a later
    # pipeline (then a statement it prepared earlier in that pipeline is gone).
    with db.connection() as conn:
        conn.autocommit = True
        threshold = conn.prepare_threshold
        conn.prepare_threshold = None
        try:
            return _run_leader(
                conn, services, q, rng, now, table, dry_run, progress, started, revision
            )
        finally:
            conn.prepare_threshold = threshold
            conn.autocommit = False


def _run_leader(
    conn: psycopg.Connection,
    services: Services,
    q: Any,
    rng: random.Random,
    now: datetime,
    table: str | None,
    dry_run: bool,
    progress: Progress | None,
    started: datetime,
    revision: str | None,
) -> RunReport:
    db = services.db
    key = leader_key(db.schema)
    # Round trips are what a run with little to do is made of, and a fresh
    # connection pays for each. Everything the plan needs goes in one: the lock (with
    # the server's time, the run's start), the policies, whether detach steps are
    # pending (the steps themselves in a round trip of their own when some are), the
    # catalog of every stored policy's parent (the query reads the policy table
    # itself), and the runtime config (read on its own it was a round trip, or a second
    # connection while the run holds the pool's one).
    # The server runs them in order, so the reads come after the lock; when the
    # lock is not ours they were wasted reads and the run's record says skipped.
    # The record is written when the run is about to change something, or once at
    # its end when it changes nothing (see _Record).
    #
    # With a revision to check, the lock is conditional on it: a schema that is behind
    # gets none, and its error comes before anything is written.
    if revision is None:
        lock_q = q["try_leader_lock"]
    else:
        version_table = sql.Identifier(migrate.VERSION_TABLE)
        lock_q = q.with_names("try_leader_lock_at", version_table=version_table)
    params = {"key": key, "revision": revision}
    lock = None
    try:
        with conn.pipeline():
            lock = conn.execute(lock_q, params)
            found = conn.execute(q["list_policies"])
            any_steps = conn.execute(q["detach_steps_any"])
            catalog_rows = conn.execute(q["catalog"], catalog.quiet(now), binary=catalog.BINARY)
            config_rows = conn.execute(services.config.values_query)
    except psycopg.Error as exc:
        # the statements after the failed one were skipped; a lock taken before it is a
        # session lock, which the rollback keeps: give it back
        got = _fetched(lock)
        if got and got[-1]:
            with contextlib.suppress(psycopg.Error):
                conn.execute(q["leader_unlock"], {"key": key})
        if revision is not None:
            migrate.check_revision(db.schema, _stored_revision(conn, db.schema, got), revision, exc)
        raise
    got = lock.fetchone()
    if revision is not None:
        migrate.check_revision(db.schema, got[0] if got else None, revision)
    assert got is not None
    record = _Record(got[-2], dry_run)
    services.config.prime(config_rows.fetchall())
    s = _settings(services)
    if not got[-1]:
        msg = "another partition maintenance run holds the lock; this one exits"
        log.info(msg, extra={"action": "partition_run_skipped"})
        report = RunReport(
            None, "skipped", started, datetime.now(UTC), dry_run, Plan(now=now), message=msg
        )
        record.ended(record.finish(conn, q, report), report)
        return report
    unlocked = False
    records: list[dict[str, Any]] = []  # per-table outcomes not yet written
    try:
        policy_rows = found.fetchall()
        policies = _policies(services, table, [store.row_to_policy(r) for r in policy_rows])
        states = catalog.with_default_rows(
            conn, catalog.states_from_rows(policies, catalog_rows.fetchall())
        )
        steps: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        if any_steps.fetchone() is not None:
            for r in conn.execute(q["detach_steps_open"]).fetchall():
                steps.setdefault((r[0], r[1]), []).append(tuple(r[2:]))
        report = _run_locked(
            conn,
            services,
            q,
            s,
            rng,
            now,
            states,
            steps,
            record,
            dry_run,
            progress,
            started,
            records,
        )
        with conn.pipeline():
            _write_records(conn, q, records)
            written = record.finish(conn, q, report)
            conn.execute(q["leader_unlock"], {"key": key})
        record.ended(written, report)
        unlocked = True
    except BaseException as exc:
        # say how the run ended (a table with no policy, a lost connection) unless the
        # connection itself is gone
        with contextlib.suppress(psycopg.Error):
            failed = RunReport(
                record.run_id,
                "failed",
                started,
                datetime.now(UTC),
                dry_run,
                Plan(now=now),
                message=f"{type(exc).__name__}: {exc}",
            )
            record.ended(record.finish(conn, q, failed), failed)
        raise
    finally:
        if not unlocked:
            conn.execute(q["leader_unlock"], {"key": key})
    if not dry_run:
        _write_stamps(conn, q, _quiet_stamps(states, policy_rows, now))
    log.info(
        "partition maintenance %s: %s",
        report.status,
        report.message,
        extra={"action": "partition_run"},
    )
    return report


def _quiet_stamps(
    states: list[TableState], policy_rows: list[tuple[Any, ...]], now: datetime
) -> dict[str, Any] | None:
    """The stamp_quiet parameters for the parents this run read in full and found settled
    (None when there are none): the next run skips their children until the stamp ends or
    anything it records changes. A stamp needs the policy row the plan used: its version
    in list_policies equal to the one the catalog query saw (a change between the two
    statements gets no stamp)."""
    versions = {(r[0], r[1]): r[16] for r in policy_rows}
    stamped = []
    for st in states:
        ident = st.identity
        if ident is None or not st.policy.enabled:  # (a quiet parent has none)
            continue
        if versions.get(st.policy.table.key) != ident.policy_version:
            continue
        until = quiet_until(st, now)
        if until is not None:
            stamped.append((st.policy.table, ident, until))
    if not stamped:
        return None
    return {
        "now": now,
        "schemas": [t.schema for t, _, _ in stamped],
        "names": [t.name for t, _, _ in stamped],
        "oids": [i.parent_oid for _, i, _ in stamped],
        "versions": [i.policy_version for _, i, _ in stamped],
        "children": [i.children for _, i, _ in stamped],
        "hashes": [i.children_hash for _, i, _ in stamped],
        "untils": [u for _, _, u in stamped],
    }


def _write_stamps(conn: psycopg.Connection, q: Any, stamps: dict[str, Any] | None) -> None:
    """Write the stamps after the run's finish, in a statement of their own: they are a
    cache, and failing to write them must not cost the run its record (one round trip,
    on the runs that read a settled parent in full: the first after a period boundary).
    A stamp describes what the run read, so another run's stamps written in between
    are as good."""
    if stamps is None:
        return
    try:
        conn.execute(q["stamp_quiet"], stamps)
    except psycopg.Error as exc:
        log.warning(
            "partition maintenance: quiet stamps not written (the next run reads every table): %s",
            exc,
            extra={"action": "partition_quiet_not_stamped"},
        )


def _fetched(cur: psycopg.Cursor[Any] | None) -> tuple[Any, ...] | None:
    """A pipelined statement's row, or None when it failed or was skipped."""
    if cur is None:
        return None
    try:
        return cur.fetchone()
    except psycopg.Error:
        return None


def _stored_revision(
    conn: psycopg.Connection, schema: str, got: tuple[Any, ...] | None
) -> str | None:
    """The stored revision after a failed first round trip: from its first statement when
    that ran, else read again (None when there is no version table)."""
    if got is not None:
        return str(got[0]) if got[0] is not None else None
    try:
        return migrate.stored_revision(conn, schema)
    except psycopg.Error:
        return None


def _run_locked(
    conn: psycopg.Connection,
    services: Services,
    q: Any,
    s: ApplySettings,
    rng: random.Random,
    now: datetime,
    states: list[TableState],
    steps: dict[tuple[str, str], list[tuple[Any, ...]]],
    record: _Record,
    dry_run: bool,
    progress: Progress | None,
    started: datetime,
    records: list[dict[str, Any]],
) -> RunReport:
    """Apply the plan table by table; the caller writes `records`, the finish, and unlocks."""
    the_plan = plan(states, now, services.config.get("partitions.max_create_periods"))
    report = RunReport(None, "ok", started, started, dry_run, the_plan)
    report.quiet = [str(st.policy.table) for st in states if st.quiet and st.policy.enabled]
    by_table = {s.policy.table: s for s in states}
    planned: dict[TableName, list[Action]] = {}
    for a in the_plan.actions:
        planned.setdefault(a.table, []).append(a)
    todo = [t for t in the_plan.tables if planned.get(t)]
    appliers = {t: TableApplier(conn, q, by_table[t], s, rng, steps.get(t.key, [])) for t in todo}
    if todo and not dry_run:
        report.run_id = record.begin(conn, q)
    batched = {} if dry_run else _apply_batched(conn, services, s, todo, planned, steps, appliers)
    for i, t in enumerate(todo):
        if progress:
            progress(str(t), i, len(todo))
        actions = planned[t]
        t_started = datetime.now(UTC)
        t0 = time.perf_counter()
        applier = appliers[t]
        done = batched.get(t)
        if dry_run:
            results = []
            status, error = "ok", None
        else:
            if _flush_due(records, done):
                _write_records(conn, q, records)
            if done is None:
                results = applier.run(actions)
            else:
                results = done.results + (applier.run(done.left) if done.left else [])
                applier.removal_path = applier.removal_path or done.removal_path
            failed = [r for r in results if r.status != "ok"]
            status = "failed" if failed else "ok"
            error = failed[0].error if failed else None
        ms = (time.perf_counter() - t0) * 1000
        if done is not None:
            # its share of the batch's time (the batch ran before this loop)
            ms += sum(r.duration_ms for r in done.results)
        result = TableResult(str(t), status, t_started, ms, results, error)
        if not dry_run:
            result.attempts = applier.attempts
            result.removal_path = applier.removal_path
            assert report.run_id is not None
            records.append(_table_record(report.run_id, t.key, result, len(actions)))
        report.tables.append(result)
        if status == "failed":
            log.warning(
                "partition maintenance of %s failed: %s",
                t,
                error,
                extra={"action": "partition_table_failed"},
            )
    if progress:
        progress("", len(todo), len(todo))
    n_failed = sum(1 for t in report.tables if t.status == "failed")
    report.status = (
        "ok" if not n_failed else ("failed" if n_failed == len(report.tables) else "partial")
    )
    report.finished_at = datetime.now(UTC)
    report.message = (
        f"{len(the_plan.actions)} action(s) on {len(todo)} table(s), {n_failed} table(s) failed, "
        f"{len(the_plan.warnings)} warning(s)"
    )
    if report.quiet:
        report.message += f", {len(report.quiet)} table(s) unchanged since their last run"
    return report


def _flush_due(records: list[dict[str, Any]], done: batch.Outcome | None) -> bool:
    """Whether the pending outcomes are written before the next table's own statements
    (see RECORD_BATCH); `done` is what the batch did for that table."""
    own = done is None or bool(done.left)
    return own and len(records) >= RECORD_BATCH


def _apply_batched(
    conn: psycopg.Connection,
    services: Services,
    s: ApplySettings,
    todo: list[TableName],
    planned: dict[TableName, list[Action]],
    steps: dict[tuple[str, str], list[tuple[Any, ...]]],
    appliers: dict[TableName, TableApplier],
) -> dict[TableName, batch.Outcome]:
    """The simple tables' transactions in one pipeline per lane (see batch.py); per
    table what was done and what is left for its TableApplier."""
    units: list[batch.Unit] = []
    tables: list[TableName] = []
    for t in todo:
        if batch.simple(planned[t], steps.get(t.key, [])):
            found = batch.units_of(appliers[t], planned[t])
            if found:
                units.extend(found)
                tables.append(t)
    if not units:
        return {}
    db = services.db
    outcomes = batch.run_lanes(
        conn, units, lambda: db.connection(timeout=batch.LANE_TIMEOUT), s.parallel
    )
    out: dict[TableName, batch.Outcome] = {}
    for t in tables:
        got = outcomes.get(id(appliers[t]), batch.Outcome())
        # actions never put in a unit (removals with detach_concurrently off) are left too
        sent = {id(a) for u in units if u.applier is appliers[t] for a in u.actions}
        got.left.extend(a for a in planned[t] if id(a) not in sent)
        order = {id(a): i for i, a in enumerate(planned[t])}
        got.left.sort(key=lambda a: order[id(a)])
        out[t] = got
    return out


def _start_params(dry_run: bool, status: str) -> dict[str, Any]:
    return {"kind": "maintenance", "dry_run": dry_run, "who": default_actor(), "status": status}


@dataclass
class _Record:
    """A run's row in partition_runs. A run about to change something writes it first
    (`begin`: one that dies midway is left 'running'); a run that changes nothing (the
    steady run with nothing due, a dry run, a skipped or failed one) writes it once as
    it ends: one INSERT rather than an INSERT and an UPDATE (0.4 ms of a fresh
    connection's server time, of a run with nothing to do)."""

    started_at: datetime  # the server's time in the run's first round trip
    dry_run: bool
    run_id: int | None = None

    def begin(self, conn: psycopg.Connection, q: Any) -> int:
        if self.run_id is None:
            row = conn.execute(
                q["begin_run"],
                {**_start_params(self.dry_run, "running"), "started_at": self.started_at},
            ).fetchone()
            assert row is not None
            self.run_id = int(row[0])
        return self.run_id

    def finish(
        self, conn: psycopg.Connection, q: Any, report: RunReport
    ) -> psycopg.Cursor[Any] | None:
        """Write how the run ended: the begun row updated, or the whole row inserted (the
        cursor returned then has its id: pass it to `ended`, after a pipeline's end)."""
        if report.dry_run:
            actions = [a.to_dict() for a in report.plan.actions]
        else:
            actions = [a.to_dict() for t in report.tables for a in t.actions]
        errors = [
            {"table": t.table, "error": t.error} for t in report.tables if t.status == "failed"
        ]
        values = {
            "status": report.status,
            "actions": Jsonb(actions),
            "errors": Jsonb(errors),
            "message": report.message,
        }
        if self.run_id is not None:
            conn.execute(q["finish_run"], {"id": self.run_id, **values})
            return None
        params = {**_start_params(self.dry_run, report.status), "started_at": self.started_at}
        return conn.execute(q["record_run"], {**params, **values})

    def ended(self, written: psycopg.Cursor[Any] | None, report: RunReport) -> None:
        """The run's id in `report`, from `finish`'s cursor when the row was inserted there."""
        if written is not None:
            row = written.fetchone()
            assert row is not None
            self.run_id = int(row[0])
        report.run_id = self.run_id


def _table_record(run_id: int, key: tuple[str, str], r: TableResult, n: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "schema_name": key[0],
        "table_name": key[1],
        "status": r.status,
        "started_at": r.started_at,
        "duration_ms": r.duration_ms,
        "actions": n,
        "error": r.error,
    }


def _write_records(conn: psycopg.Connection, q: Any, records: list[dict[str, Any]]) -> None:
    """Write the waiting per-table outcomes in one statement and forget them.

    One INSERT of arrays, not one INSERT per table: a run of 115 tables otherwise
    parses, plans and executes 115 statements on the server for its records."""
    if records:
        conn.execute(
            q["record_tables"],
            {
                "run_id": records[0]["run_id"],
                "schema_names": [r["schema_name"] for r in records],
                "table_names": [r["table_name"] for r in records],
                "statuses": [r["status"] for r in records],
                "started": [r["started_at"] for r in records],
                "durations": [float(r["duration_ms"]) for r in records],
                "actions": [r["actions"] for r in records],
                "errors": [r["error"] for r in records],
            },
        )
        records.clear()


def status(services: Services, now: datetime | None = None) -> list[TableStatus]:
    """Per managed parent: partitions, bounds, horizon, default rows, next action, last run."""
    now = _now(now)
    policies = store.list_policies(services.db)
    q = store.queries(services.db)
    with services.db.connection() as conn:
        states = _read(conn, services, policies)
        last = {(r[0], r[1]): r for r in conn.execute(q["last_runs"]).fetchall()}
    the_plan = plan(states, now, services.config.get("partitions.max_create_periods"))
    out = []
    for st in states:
        p = st.policy
        managed = [x for x in st.partitions if x.managed]
        lowers = [x.lower for x in managed if x.lower]
        uppers = [x.upper for x in managed if x.upper]
        newest = max(uppers) if uppers else None
        actions = the_plan.for_table(p.table)
        row = last.get(p.table.key)
        out.append(
            TableStatus(
                table=str(p.table),
                enabled=p.enabled,
                interval=p.interval,
                partitions=len(managed),
                oldest=min(lowers) if lowers else None,
                newest=newest,
                horizon_seconds=(newest - now).total_seconds() if newest else None,
                rows_in_default=st.default_rows.count if st.default_rows else None,
                next_action=f"{actions[0].kind} {actions[0].partition}" if actions else None,
                warnings=sum(1 for w in the_plan.warnings if w.table == p.table),
                last_run=row[2] if row else None,
                last_status=row[3] if row else None,
                last_success=row[6] if row else None,
                last_duration_ms=row[4] if row else None,
                last_error=row[5] if row else None,
            )
        )
    return out
