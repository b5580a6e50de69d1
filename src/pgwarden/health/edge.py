"""The edge: one connection per target and round, each collector under its own timeouts.

A round connects with `application_name = pgwarden-health`, sets
`lock_timeout` and read-only transactions, probes the server under the
connect timeout, then sets the collectors' `statement_timeout` (a tight one
must time collectors out, not the probe, which reads as the target being
down), runs the collectors that are due (catalog.plan), carries the others
over from the previous round, and condenses the result (derive.condense).
Nothing here raises for a bad target: an unreachable server is a snapshot
with `up = False`; a collector that fails or times out is recorded, counted
and skipped while the others run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
from psycopg import errors as pgerr
from psycopg.types.numeric import FloatLoader

from pgwarden.db.conninfo import describe_target, with_options
from pgwarden.health import catalog, derive
from pgwarden.health.snapshot import Result, Row, Snapshot
from pgwarden.jsonable import jsonable

log = logging.getLogger(__name__)

APPLICATION_NAME = "pgwarden-health"
STATEMENT_TIMEOUT = 5.0  # seconds, per collector query
LOCK_TIMEOUT = 0.5  # seconds: a size function never queues behind an ACCESS EXCLUSIVE lock
CONNECT_TIMEOUT = 5  # seconds


@dataclass(frozen=True)
class RoundConfig:
    intervals: Mapping[str, float] = field(
        default_factory=lambda: {catalog.FAST: 0.0, catalog.SLOW: 900.0, catalog.STATEMENTS: 300.0}
    )
    statement_timeout: float = STATEMENT_TIMEOUT
    lock_timeout: float = LOCK_TIMEOUT
    connect_timeout: int = CONNECT_TIMEOUT
    condense: derive.Condense = derive.Condense()


@dataclass
class TargetState:
    """What one process remembers of a target between rounds (raw rows, run times, counts)."""

    last_run: dict[str, datetime] = field(default_factory=dict)
    raw: dict[str, Result] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)

    def bump(self, key: str, by: float = 1.0) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + by


def _reason(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return "; ".join(lines) or type(exc).__name__


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def setup_timeout(cfg: RoundConfig) -> float:
    """What bounds a round's own statements (the probe) before the collectors' timeout."""
    return max(cfg.statement_timeout, float(cfg.connect_timeout))


def open_target(dsn: str, cfg: RoundConfig) -> psycopg.Connection:
    """A read-only autocommit connection whose statements run under `setup_timeout`
    (collect_round sets the collectors' own after its probe); DatabaseUnavailable-style
    errors are left to the caller (it records them in the snapshot)."""
    conninfo = with_options(
        dsn, application_name=APPLICATION_NAME, connect_timeout=max(1, int(cfg.connect_timeout))
    )
    conn = psycopg.connect(conninfo, autocommit=True)
    # sums and sizes come back as numeric; JSON and the core want floats
    conn.adapters.register_loader("numeric", FloatLoader)
    try:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false),"
            " set_config('default_transaction_read_only', 'on', false)",
            (_ms(setup_timeout(cfg)), _ms(cfg.lock_timeout)),
        )
    except BaseException:
        conn.close()
        raise
    return conn


def run_collector(
    conn: psycopg.Connection, spec: catalog.CollectorSpec, query: str, role: str
) -> Result:
    """Run one collector; failures become a Result with `error` (and `timed_out`)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    try:
        cur = conn.execute(query)  # catalogue text: fixed, no parameters
        cols = [d.name for d in cur.description or ()]
        # numeric arrives as float (see open_target); only other odd types need converting
        rows: list[Row] = [dict(zip(cols, rec, strict=True)) for rec in cur.fetchall()]
        odd = {c for r in rows[:1] for c, v in r.items() if isinstance(v, Decimal | date)}
        for r in rows if odd else ():
            for c in odd:
                r[c] = jsonable(r[c])
        return Result(rows, now, time.perf_counter() - started)
    except (pgerr.QueryCanceled, pgerr.LockNotAvailable) as exc:
        msg = f"{spec.name}: skipped after a timeout reading {spec.reads} ({_reason(exc)})"
        return Result([], now, time.perf_counter() - started, error=msg, timed_out=True)
    except pgerr.InsufficientPrivilege as exc:
        msg = (
            f"{spec.name}: role {role} may not read {spec.reads} ({_reason(exc)}); "
            f"grant it pg_monitor: GRANT pg_monitor TO {role};"
        )
        return Result([], now, time.perf_counter() - started, error=msg)
    except psycopg.OperationalError:
        raise  # the connection is gone: the round ends
    except psycopg.Error as exc:
        msg = f"{spec.name}: {type(exc).__name__} reading {spec.reads}: {_reason(exc)}"
        return Result([], now, time.perf_counter() - started, error=msg)


def collect_round(
    name: str,
    dsn: str,
    state: TargetState,
    cfg: RoundConfig = RoundConfig(),
    *,
    now: datetime | None = None,
    force: bool = False,
) -> Snapshot:
    """One round for one target: due collectors run, the others come from `state`."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    state.bump("rounds")
    try:
        conn = open_target(dsn, cfg)
    except psycopg.Error as exc:
        state.bump("connect_errors")
        where = describe_target(dsn)
        log.warning("health target %s at %s is down: %s", name, where, _reason(exc),
                    extra={"action": "health_target_down"})  # fmt: skip
        return Snapshot(
            name, now, up=False, error=f"could not connect to {where}: {_reason(exc)}",
            duration=time.perf_counter() - started, counters=dict(state.counters),
        )  # fmt: skip
    try:
        probe = conn.execute(catalog.query_for("probe", 150000)).fetchone()
        assert probe is not None
        version_num, extensions = int(probe[0]), list(probe[1] or [])
        role = str(
            conn.execute(  # the collectors' timeout from here on
                "SELECT current_user, set_config('statement_timeout', %s, false)",
                (_ms(cfg.statement_timeout),),
            ).fetchone()[0]  # type: ignore[index]
        )
        if not catalog.supported(version_num):
            return Snapshot(
                name, now, up=True, version_num=version_num,
                error=f"PostgreSQL {catalog.major_of(version_num)} is not supported "
                f"(pgwarden health needs {catalog.MIN_MAJOR} or later)",
                duration=time.perf_counter() - started, counters=dict(state.counters),
            )  # fmt: skip
        due, missing = catalog.plan(
            version_num, extensions, state.last_run, now, cfg.intervals, force=force
        )
        for item in due:
            res = run_collector(conn, item.spec, item.sql, role)
            state.last_run[item.spec.name] = now
            if res.error:
                state.bump(f"errors:{item.spec.name}")
                if res.timed_out:
                    state.bump(f"timeouts:{item.spec.name}")
                log.warning("health collector failed: %s", res.error,
                            extra={"action": "health_collector_failed"})  # fmt: skip
                previous = state.raw.get(item.spec.name)
                if previous is not None and previous.ok and res.timed_out:
                    # keep serving the last good rows; the error shows in the self-metrics
                    res = Result(previous.rows, previous.taken_at, res.duration, res.error, True)
            state.raw[item.spec.name] = res
        for gone in missing:
            state.raw.pop(gone, None)
    except psycopg.OperationalError as exc:
        state.bump("connect_errors")
        if isinstance(exc, pgerr.QueryCanceled | pgerr.LockNotAvailable):
            # only the probe runs outside run_collector: the server is there, its answer is not
            error = f"{describe_target(dsn)} did not answer the probe: {_reason(exc)}"
        else:
            error = f"connection to {describe_target(dsn)} lost: {_reason(exc)}"
        return Snapshot(
            name, now, up=False, error=error, duration=time.perf_counter() - started,
            counters=dict(state.counters),
        )  # fmt: skip
    finally:
        conn.close()
    results = {
        k: Result(list(v.rows), v.taken_at, v.duration, v.error, v.timed_out)
        for k, v in state.raw.items()
    }
    snap = Snapshot(
        name, now, up=True, version_num=version_num, results=results, missing=missing,
        duration=time.perf_counter() - started, counters=dict(state.counters),
    )  # fmt: skip
    return derive.condense(snap, cfg.condense)
