"""Many tables' simple transactions sent together: one round trip for a whole run.

A run that creates or drops partitions on a hundred tables used to wait for
the server once per table (each table's transaction a round trip), and on a
busy machine each wait also costs the time it takes to be scheduled again.
The tables whose work is simple go in one pipeline instead, each still in
its own transaction (BEGIN ... COMMIT), so every table's locks are held
exactly as long as before and a table never waits for another to commit:

- creation without a default-partition rescue: BEGIN, SET LOCAL
  lock_timeout, CREATE TABLE ... LIKE and ATTACH per partition, COMMIT;
- the short removal path: BEGIN, DETACH / DROP (the first statement locks
  the parent first), COMMIT, under the short lock_timeout, which the
  pipeline sets for the session before the first transaction and resets
  after the last (one statement for the batch rather than one per table);
  when the pipeline fails before its RESET, the RESET follows the ROLLBACK.

PostgreSQL skips everything after an error until the pipeline's end, so the
first transaction that fails (a lock not granted, anything else) and every
one after it did not happen; the server says which COMMITs ran. The failed
table then takes its usual careful way (`TableApplier`: retries, DETACH
CONCURRENTLY), and the tables after it go in a new pipeline. For a creation
the batch's try comes on top of the table's usual tries under
`partitions.lock_timeout`; for a removal it is the short path's one try.

Lanes (`partitions.parallel`): a run with many actions spreads its tables over
that many connections, the run's own and others from the pool, each sending its
share as above, at the same time. Most of a DROP's or a CREATE's time is the
server's (catalog updates, files created or unlinked), and one backend keeps one
core busy: on two cores two lanes dropped the retention benchmark's 783
partitions in 324 ms instead of 441. A table's transactions stay in one lane and
in order; tables are independent (each transaction locks one parent and its
partitions), so what a table sees is what it saw with one lane. A lane whose
connection cannot be had in LANE_TIMEOUT is run by the run's own connection
after its own share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field

import psycopg

from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError
from pgwarden.partitions import ddl
from pgwarden.partitions.apply import ActionResult, Statement, TableApplier
from pgwarden.partitions.planner import CREATE, CREATE_DEFAULT, DETACH, DROP, Action

log = logging.getLogger(__name__)

_DB = Queries("pgwarden.db")  # RESET lock_timeout

# A lane of its own only for this many actions or more: a connection costs about as
# much as a dozen DROPs (a new backend: fork, authentication, catalog caches).
MIN_ACTIONS_PER_LANE = 12
LANE_TIMEOUT = 2.0  # seconds to get a lane's connection from the pool

Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


@dataclass
class Unit:
    """One table's one transaction in a batch."""

    applier: TableApplier
    kind: str  # "create" or "remove"
    actions: list[Action]
    statements: list[Statement]
    commit: psycopg.Cursor | None = None


@dataclass
class Outcome:
    """What the batch did for one table, and what is left for its careful way."""

    results: list[ActionResult] = field(default_factory=list)
    left: list[Action] = field(default_factory=list)
    removal_path: str | None = None


def simple(actions: Sequence[Action], steps: Sequence[object]) -> bool:
    """Whether a table's actions can go in a batch: creations without rescue, plain
    drops and detaches; no finalize, archive or detach left pending from a past run."""
    if steps:
        return False
    for a in actions:
        if a.kind in (CREATE, CREATE_DEFAULT):
            if a.rescue:
                return False
        elif a.kind in (DROP, DETACH):
            if a.pending:
                return False
        else:
            return False
    return True


def units_of(applier: TableApplier, actions: list[Action]) -> list[Unit]:
    """A table's transactions, in the order TableApplier runs them (creations first).

    Removals go in a batch only with `detach_concurrently` on (the default),
    where their first try is the short path anyway; otherwise they keep their
    plain way with retries.
    """
    creates = [a for a in actions if a.kind in (CREATE, CREATE_DEFAULT)]
    removals = [a for a in actions if a.kind in (DROP, DETACH)]
    units = []
    if creates:
        units.append(Unit(applier, "create", creates, applier.create_statements(creates)))
    if removals and applier.s.detach_concurrently:
        stmts = applier.removal_statements(removals)
        units.append(Unit(applier, "remove", removals, stmts))
    return units


def lane_count(units: Sequence[Unit], most: int) -> int:
    """How many lanes `units` are worth: at most `most`, one per table at most, and
    MIN_ACTIONS_PER_LANE actions or more in each."""
    tables = len({id(u.applier) for u in units})
    actions = sum(len(u.actions) for u in units)
    return max(1, min(most, tables, actions // MIN_ACTIONS_PER_LANE))


def lanes_of(units: Sequence[Unit], n: int) -> list[list[Unit]]:
    """`units` split into `n` lanes of about equal actions, none empty when there are
    tables enough; a table's units stay together and in order, and each lane keeps the
    tables in the order they came. The largest table goes first, to the lane with the
    fewest actions so far (ties: the first such lane)."""
    tables: dict[int, list[Unit]] = {}
    for u in units:
        tables.setdefault(id(u.applier), []).append(u)
    order = {key: i for i, key in enumerate(tables)}
    size = {key: sum(len(u.actions) for u in us) for key, us in tables.items()}
    n = max(1, min(n, len(tables)))
    load = [0] * n
    lane_of: dict[int, int] = {}
    for key in sorted(tables, key=lambda k: (-size[k], order[k])):
        lane = min(range(n), key=lambda i: (load[i], i))
        lane_of[key] = lane
        load[lane] += size[key]
    lanes: list[list[Unit]] = [[] for _ in range(n)]
    for key, us in tables.items():
        lanes[lane_of[key]].extend(us)
    return lanes


def run_lanes(
    conn: psycopg.Connection, units: list[Unit], connect: Connect, most: int
) -> dict[int, Outcome]:
    """`run` over up to `most` lanes: the first on `conn`, each other one on a
    connection of its own from `connect`, at the same time (see the module's
    docstring); per applier (by id) the outcome, as `run` gives it."""
    lanes = lanes_of(units, lane_count(units, most))
    if len(lanes) == 1:
        return run(conn, units)
    outcomes: dict[int, Outcome] = {}
    with ThreadPoolExecutor(len(lanes) - 1, thread_name_prefix="pgwarden-lane") as pool:
        others = [pool.submit(_run_lane, connect, lane) for lane in lanes[1:]]
        outcomes.update(run(conn, lanes[0]))
        for lane, other in zip(lanes[1:], others, strict=True):
            got = other.result()
            outcomes.update(run(conn, lane) if got is None else got)
    return outcomes


def _run_lane(connect: Connect, lane: list[Unit]) -> dict[int, Outcome] | None:
    """`run` on a connection from `connect`, in autocommit and without prepared
    statements as the run's own (see maintain.run_maintenance); None when no
    connection could be had."""
    with ExitStack() as stack:
        try:
            conn = stack.enter_context(connect())
        except (psycopg.Error, PgwardenError) as exc:
            log.info(
                "partition maintenance: no connection for a second lane (%s); "
                "the run's own connection does its %d table(s) after its own",
                exc,
                len({id(u.applier) for u in lane}),
                extra={"action": "partition_lane_unavailable"},
            )
            return None
        threshold = conn.prepare_threshold
        conn.autocommit = True
        conn.prepare_threshold = None
        try:
            return run(conn, lane)
        finally:
            with suppress(psycopg.Error):
                conn.prepare_threshold = threshold
                conn.autocommit = False
    return None  # pragma: no cover (ExitStack does not swallow exceptions)


def run(conn: psycopg.Connection, units: list[Unit]) -> dict[int, Outcome]:
    """Send `units` in as few pipelines as errors allow; per applier (by id) the outcome.

    `conn` is in autocommit mode. Actions of a unit that did not commit are
    returned in `left`, with the actions of its table that were never put in
    a unit, for the caller to apply the careful way.
    """
    outcomes: dict[int, Outcome] = {}
    todo = list(units)
    while todo:
        started = time.perf_counter()
        failed_at = _send(conn, todo)
        done = todo if failed_at is None else todo[:failed_at]
        ms = (time.perf_counter() - started) * 1000
        per = ms / max(1, sum(len(u.actions) for u in done))
        for u in done:
            out = outcomes.setdefault(id(u.applier), Outcome())
            path = "short" if u.kind == "remove" else None
            out.results.extend(ActionResult(a, "ok", per, path=path) for a in u.actions)
            if path:
                out.removal_path = path
        if failed_at is None:
            break
        # the failed unit goes the careful way with whatever its table has left
        failed = todo[failed_at]
        outcomes.setdefault(id(failed.applier), Outcome()).left.extend(failed.actions)
        rest = todo[failed_at + 1 :]
        todo = []
        for u in rest:
            if u.applier is failed.applier:
                outcomes[id(failed.applier)].left.extend(u.actions)
            else:
                todo.append(u)
    return outcomes


def _send(conn: psycopg.Connection, units: list[Unit]) -> int | None:
    """One pipeline of every unit; None when all committed, else the first that did not.

    Only each unit's COMMIT gets a cursor of its own (its status is read); the other
    statements share one."""
    error: psycopg.Error | None = None
    short = next((u.applier.s.short_lock_timeout for u in units if u.kind == "remove"), None)
    try:
        with conn.pipeline():
            shared = conn.cursor()
            if short is not None:
                shared.execute(ddl.set_lock_timeout(short, local=False), prepare=False)
            for u in units:
                *head, commit = u.statements
                for stmt in head:
                    shared.execute(stmt, prepare=False)
                u.commit = conn.execute(commit, prepare=False)
            if short is not None:
                shared.execute(_DB["reset_lock_timeout"], prepare=False)
    except psycopg.Error as exc:
        error = exc  # which units committed is read from their COMMITs below
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        conn.execute("ROLLBACK")
    if error is not None and short is not None:
        conn.execute(_DB["reset_lock_timeout"])  # the pipeline's own was skipped
    for i, u in enumerate(units):
        if u.commit is None or u.commit.statusmessage != "COMMIT":
            log.info(
                "%s: %s transaction not done in the batch (%s); it goes the careful way",
                u.applier.state.policy.table,
                u.kind,
                type(error).__name__ if error else "not sent",
                extra={"action": "partition_batch_fallback"},
            )
            return i
    return None
