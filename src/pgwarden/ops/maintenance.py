"""ANALYZE, REINDEX INDEX CONCURRENTLY and per-table autovacuum settings, one object at a time.

Every statement runs under `lock_timeout` on an autocommit connection (the
concurrent forms refuse a transaction block), and a lock not granted is
retried a few times with a growing pause, then reported, never waited on
while the application queues behind it.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from pgwarden.errors import InputInvalid
from pgwarden.ops.runner import RunContext, RunRecord, queries, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

ANALYZE_MAX_AGE = "7 days"
ANALYZE_MOD_FRACTION = 0.1
_LEFTOVER = re.compile(r"_cc(new|old)\d*$")
AUTOVACUUM_PARAMS = {
    "autovacuum_enabled",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_freeze_min_age",
    "autovacuum_freeze_max_age",
    "autovacuum_freeze_table_age",
}


def _target(services: Services) -> str:
    with services.db.connection() as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else "?"


def _autocommit(services: Services) -> psycopg.Connection:
    return psycopg.connect(services.db.session_conninfo("pgwarden-ops-maint"), autocommit=True)


def with_lock_retries(
    conn: psycopg.Connection,
    statement: sql.Composed,
    *,
    lock_timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run one statement under lock_timeout, retrying a lock not granted; returns attempts made.

    Raises psycopg.errors.LockNotAvailable after the last retry.
    """
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(int(lock_timeout * 1000))))
    for attempt in range(retries + 1):
        try:
            conn.execute(statement)
            return attempt + 1
        except psycopg.errors.LockNotAvailable:
            if attempt == retries:
                raise
            sleep(min(30.0, 0.2 * 2**attempt) * (0.5 + random.random()))
    return retries + 1


def analyze(services: Services, *, dry_run: bool = False) -> RunRecord:
    """ANALYZE every partitioned parent and every table with stale statistics."""

    def body(ctx: RunContext) -> dict[str, Any]:
        cfg = services.config
        with services.db.connection() as conn:
            rows = conn.execute(
                queries(services)["analyze_candidates"],
                {"max_age": ANALYZE_MAX_AGE, "mod_fraction": ANALYZE_MOD_FRACTION},
            ).fetchall()
        plan = [{"table": f"{s}.{t}", "kind": k, "reason": r} for s, t, k, r in rows]
        if ctx.dry_run:
            return {"plan": plan}
        done, skipped = [], []
        with _autocommit(services) as conn:
            for item, (schema, table, _, _) in zip(plan, rows, strict=True):
                t0 = time.perf_counter()
                try:
                    with_lock_retries(
                        conn,
                        sql.SQL("ANALYZE (SKIP_LOCKED) {}").format(sql.Identifier(schema, table)),
                        lock_timeout=float(cfg.get("ops.lock_timeout")),
                        retries=int(cfg.get("ops.lock_retries")),
                    )
                except psycopg.errors.LockNotAvailable:
                    skipped.append(item["table"])
                    continue
                except psycopg.errors.UndefinedTable:
                    continue  # dropped since it was listed
                done.append({**item, "seconds": round(time.perf_counter() - t0, 3)})
        if skipped:
            ctx.partial = f"{len(skipped)} table(s) locked: " + ", ".join(skipped[:10])
        return {"analyzed": done, "skipped": skipped}

    return run_op(services, "analyze", _target(services), body, dry_run=dry_run)


def reindex(
    services: Services,
    *,
    dry_run: bool = False,
    bloat_pct: float | None = None,
    min_bytes: int | None = None,
) -> RunRecord:
    """Drop REINDEX leftovers, then REINDEX INDEX CONCURRENTLY each index over the bloat bar."""
    cfg = services.config
    bloat_pct = float(cfg.get("ops.reindex_bloat_pct") if bloat_pct is None else bloat_pct)
    min_bytes = int(cfg.get("ops.reindex_min_bytes") if min_bytes is None else min_bytes)

    def body(ctx: RunContext) -> dict[str, Any]:
        q = queries(services)
        lock_timeout = float(cfg.get("ops.lock_timeout"))
        retries = int(cfg.get("ops.lock_retries"))
        with services.db.connection() as conn:
            invalid = conn.execute(q["invalid_indexes"]).fetchall()
            stats = conn.execute(q["index_bloat"], {"min_bytes": min_bytes}).fetchall()
        leftovers = [(s, i, t) for s, i, t, _ in invalid if _LEFTOVER.search(i)]
        foreign = [
            f"{s}.{i} on {t}: invalid, not left by REINDEX; rebuild or drop it by hand "
            f"(DROP INDEX CONCURRENTLY {s}.{i})"
            for s, i, t, _ in invalid
            if not _LEFTOVER.search(i)
        ]
        candidates = []
        for schema, index, table, size, _, ideal, exclusion in stats:
            est = max(0.0, 100.0 * (1 - ideal / size)) if size else 0.0
            if exclusion or est < bloat_pct:
                continue
            candidates.append(
                {
                    "index": f"{schema}.{index}",
                    "table": table,
                    "bytes": size,
                    "bloat_pct": round(est, 1),
                    "_names": (schema, index),
                }
            )
        if ctx.dry_run:
            return {
                "drop_leftovers": [f"{s}.{i}" for s, i, _ in leftovers],
                "invalid_reported": foreign,
                "reindex": [{k: v for k, v in c.items() if k != "_names"} for c in candidates],
            }
        dropped, rebuilt, failed = [], [], []
        with _autocommit(services) as conn:
            for schema, index, _ in leftovers:
                try:
                    with_lock_retries(
                        conn,
                        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                            sql.Identifier(schema, index)
                        ),
                        lock_timeout=lock_timeout,
                        retries=retries,
                    )
                    dropped.append(f"{schema}.{index}")
                except psycopg.Error as exc:
                    failed.append(f"drop {schema}.{index}: {type(exc).__name__}: {exc}".strip())
            for c in candidates:
                schema, index = c.pop("_names")
                ident = sql.Identifier(schema, index)
                t0 = time.perf_counter()
                try:
                    with_lock_retries(
                        conn,
                        sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(ident),
                        lock_timeout=lock_timeout,
                        retries=retries,
                    )
                except psycopg.Error as exc:
                    failed.append(f"reindex {c['index']}: {type(exc).__name__}: {exc}".strip())
                    _drop_new_leftover(conn, schema, index)
                    continue
                row = conn.execute(
                    "SELECT pg_relation_size(%s::regclass), "
                    "(SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass)",
                    [f"{ident.as_string(conn)}"] * 2,
                ).fetchone()
                after, valid = (int(row[0]), bool(row[1])) if row else (None, False)
                rebuilt.append(
                    {
                        **c,
                        "bytes_after": after,
                        "valid": valid,
                        "seconds": round(time.perf_counter() - t0, 3),
                    }
                )
        if failed:
            ctx.partial = "; ".join(failed[:5])
        return {
            "dropped_leftovers": dropped,
            "invalid_reported": foreign,
            "rebuilt": rebuilt,
            "failed": failed,
        }

    return run_op(services, "reindex", _target(services), body, dry_run=dry_run)


def _drop_new_leftover(conn: psycopg.Connection, schema: str, index: str) -> None:
    """A failed REINDEX CONCURRENTLY leaves `<index>_ccnew`: drop it now, it only costs writes."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE n.nspname = %s AND c.relname ~ %s AND NOT i.indisvalid",
        [schema, "^" + re.escape(index[:55]) + "_ccnew[0-9]*$"],
    ).fetchall()
    for (name,) in rows:
        try:
            conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
            )
        except psycopg.Error:
            log.warning(
                "could not drop %s.%s; the next run will",
                schema,
                name,
                extra={"action": "ops_reindex"},
            )


def parse_reloptions(options: list[str]) -> dict[str, str]:
    return dict(opt.split("=", 1) for opt in options if "=" in opt)


def autovacuum_plan(
    wanted: dict[str, Any], current: dict[str, dict[str, str]]
) -> list[tuple[str, str, str, str | None]]:
    """Pure: (table, parameter, wanted, current) for every setting that differs."""
    changes = []
    for table, settings in sorted(current.items()):
        for param, value in sorted(wanted.items()):
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if settings.get(param) != text:
                changes.append((table, param, text, settings.get(param)))
    return changes


def apply_autovacuum(services: Services, *, dry_run: bool = False) -> RunRecord:
    """Make tables' autovacuum settings equal ops.autovacuum (leaves of a partitioned table)."""
    policy = services.config.get("ops.autovacuum") or {}
    for table, settings in policy.items():
        if not isinstance(settings, dict):
            raise InputInvalid(f"ops.autovacuum[{table}]", settings, "must be a JSON object")
        for param in settings:
            if param not in AUTOVACUUM_PARAMS:
                raise InputInvalid(
                    f"ops.autovacuum[{table}]", param, "is not a per-table autovacuum parameter"
                )

    def body(ctx: RunContext) -> dict[str, Any]:
        from pgwarden.partitions.policy import parse_table_name

        cfg = services.config
        changes: list[tuple[str, str, str, str | None]] = []
        idents: dict[str, sql.Identifier] = {}
        with services.db.connection() as conn:
            for table, settings in sorted(policy.items()):
                name = parse_table_name(table)
                row = conn.execute(
                    "SELECT to_regclass(%s)::oid",
                    [sql.Identifier(name.schema, name.name).as_string(conn)],
                ).fetchone()
                if not row or row[0] is None:
                    raise InputInvalid("ops.autovacuum", table, "no such table")
                found = conn.execute(queries(services)["reloptions"], {"oid": row[0]}).fetchall()
                current = {}
                for s, t, kind, opts in found:
                    if kind == "p":
                        continue  # autovacuum works on the leaves
                    current[f"{s}.{t}"] = parse_reloptions(list(opts))
                    idents[f"{s}.{t}"] = sql.Identifier(s, t)
                changes += autovacuum_plan(settings, current)
        lines = [f"{t}: {p} {c or 'default'} -> {w}" for t, p, w, c in changes]
        if ctx.dry_run:
            return {"changes": lines}
        applied, failed = [], []
        with _autocommit(services) as conn:
            for (table, param, wanted, _), line in zip(changes, lines, strict=True):
                stmt = sql.SQL("ALTER TABLE {} SET ({} = {})").format(
                    idents[table], sql.SQL(param), sql.Literal(wanted)
                )
                try:
                    with_lock_retries(
                        conn,
                        stmt,
                        lock_timeout=float(cfg.get("ops.lock_timeout")),
                        retries=int(cfg.get("ops.lock_retries")),
                    )
                    applied.append(line)
                except psycopg.Error as exc:
                    failed.append(f"{line}: {type(exc).__name__}: {exc}".strip())
        if failed:
            ctx.partial = "; ".join(failed[:5])
        return {"applied": applied, "failed": failed}

    return run_op(services, "autovacuum", _target(services), body, dry_run=dry_run)
