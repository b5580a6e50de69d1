"""Stored retention and PII-masking policies, run in short batches that resume after a kill.

A run fixes its cutoff once and walks the table's physical pages in ranges
(`ctid` range scans): each batch is one short transaction that deletes (or
masks) the eligible rows of a few pages and, in the same commit, records
the next page on the policy. A killed run therefore resumes exactly where
its last commit left it, with the same cutoff, so it terminates even while
new old-dated rows keep arriving. Masking is idempotent by predicate: a
masked value never matches the method's "still clear" test again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.errors import InputInvalid, NotFound
from pgwarden.jsonable import jsonable
from pgwarden.ops.errors import OpsError, OpSkipped
from pgwarden.ops.runner import RunContext, RunRecord, queries, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

KINDS = ("retention", "mask")
METHODS = ("hash", "null", "redact", "ip-prefix")
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
TEXT_TYPES = ("text", "character varying", "character")
IP_TYPES = ("inet", "cidr")
REDACTED = "[redacted]"
HASH_PREFIX = "sha256:"
MAX_PAGES_PER_BATCH = 16384
SWEEP_BATCHES = 100


@dataclass(frozen=True)
class LifecyclePolicy:
    id: int
    kind: str
    table_schema: str
    table_name: str
    column: str
    older_than: str | None
    expires: bool
    age_column: str | None
    method: str | None
    enabled: bool
    source: str
    created_at: datetime
    state: dict[str, Any] | None
    last_run_id: int | None

    @property
    def table(self) -> str:
        return f"{self.table_schema}.{self.table_name}"

    @property
    def target(self) -> str:
        return f"{self.table}.{self.column}"

    def describe(self) -> str:
        if self.kind == "retention":
            when = (
                f"{self.column} < now()"
                if self.expires
                else f"{self.column} older than {self.older_than}"
            )
            return f"delete rows of {self.table} where {when}"
        return (
            f"mask {self.table}.{self.column} ({self.method}) where {self.age_column} "
            f"older than {self.older_than}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = jsonable(dict(self.__dict__))
        d["table"] = self.table
        d["description"] = self.describe()
        return d


def _split(table: str) -> tuple[str, str]:
    from pgwarden.partitions.policy import parse_table_name

    name = parse_table_name(table)
    return name.schema, name.name


def _column_info(
    conn: psycopg.Connection, services: Services, schema: str, name: str, column: str, field: str
) -> tuple[str, str, bool, int]:
    row = conn.execute(
        queries(services)["table_column"],
        {"schema_name": schema, "table_name": name, "column": column},
    ).fetchone()
    if row is None:
        raise InputInvalid("table", f"{schema}.{name}", "no such table")
    kind, col_type, notnull, typmod, _ = row
    if kind == "p":
        raise InputInvalid(
            "table",
            f"{schema}.{name}",
            "is partitioned: its retention is a partition drop; see `pgwarden partitions add "
            "--retention`",
        )
    if kind != "r":
        raise InputInvalid("table", f"{schema}.{name}", "is not a plain table")
    if col_type is None:
        raise InputInvalid(field, column, f"{schema}.{name} has no such column")
    return str(col_type), str(kind), bool(notnull), int(typmod)


def _interval(conn: psycopg.Connection, services: Services, text: str, field: str) -> str:
    try:
        row = conn.execute(queries(services)["parse_interval"], {"text": text}).fetchone()
    except psycopg.errors.DataError:
        conn.rollback()
        raise InputInvalid(field, text, "is not a span of time such as '180 days'") from None
    assert row is not None
    if row[1] <= 0:
        raise InputInvalid(field, text, "must be a positive span of time")
    return str(row[0])


def add_policy(
    services: Services,
    kind: str,
    table: str,
    column: str,
    *,
    older_than: str | None = None,
    expires: bool = False,
    method: str | None = None,
    age_column: str | None = None,
    source: str = "cli",
    save: bool = True,
) -> LifecyclePolicy:
    """Store (or replace) a retention or masking policy after checking table, columns and values.

    With `save=False` nothing is written: the checked policy comes back with id 0.
    """
    if kind not in KINDS:
        raise InputInvalid("kind", kind, "must be retention or mask")
    schema, name = _split(table)
    with services.db.connection() as conn:
        col_type, _, notnull, typmod = _column_info(conn, services, schema, name, column, "column")
        span = _interval(conn, services, older_than, "older_than") if older_than else None
        if kind == "retention":
            if not span and not expires:
                raise InputInvalid(
                    "older_than", older_than, "give --older-than or --expires-column"
                )
            if span and expires:
                raise InputInvalid("older_than", older_than, "not with --expires-column")
            if col_type not in TIME_TYPES:
                raise InputInvalid(
                    "column", column, f"must be a timestamp or date column, not {col_type}"
                )
            method = age_column = None
        else:
            if method not in METHODS:
                raise InputInvalid("method", method, "must be one of " + ", ".join(METHODS))
            if not span:
                raise InputInvalid("older_than", older_than, "masking needs --older-than")
            age_column = age_column or "created_at"
            age_type, *_ = _column_info(conn, services, schema, name, age_column, "age_column")
            if age_type not in TIME_TYPES:
                raise InputInvalid(
                    "age_column", age_column, f"must be a timestamp or date column, not {age_type}"
                )
            _check_method(method, column, col_type, notnull, typmod)
        if not save:
            return LifecyclePolicy(
                0,
                kind,
                schema,
                name,
                column,
                span,
                expires,
                age_column,
                method,
                True,
                source,
                datetime.now(UTC),
                None,
                None,
            )
        row = conn.execute(
            queries(services)["upsert_policy"],
            {
                "kind": kind,
                "table_schema": schema,
                "table_name": name,
                "column_name": column,
                "older_than": span,
                "expires": expires,
                "age_column": age_column,
                "method": method,
                "source": source,
                "who": default_actor(),
            },
        ).fetchone()
    assert row is not None
    return get_policy(services, kind, int(row[0]))


def _check_method(method: str, column: str, col_type: str, notnull: bool, typmod: int) -> None:
    if method == "ip-prefix" and col_type not in IP_TYPES:
        raise InputInvalid(
            "column", column, f"ip-prefix needs an inet or cidr column, not {col_type}"
        )
    if method in ("hash", "redact") and col_type not in TEXT_TYPES:
        raise InputInvalid("column", column, f"{method} needs a text column, not {col_type}")
    if method == "hash" and typmod > 0 and typmod - 4 < len(HASH_PREFIX) + 64:
        raise InputInvalid("column", column, f"{col_type}({typmod - 4}) is too short for a hash")
    if method == "redact" and typmod > 0 and typmod - 4 < len(REDACTED):
        raise InputInvalid("column", column, f"{col_type}({typmod - 4}) is too short")
    if method == "null" and notnull:
        raise InputInvalid("column", column, "is NOT NULL; use redact or hash")


def list_policies(services: Services, kind: str | None = None) -> list[LifecyclePolicy]:
    with services.db.connection() as conn:
        rows = conn.execute(queries(services)["list_policies"], {"kind": kind}).fetchall()
    return [LifecyclePolicy(*r) for r in rows]


def get_policy(services: Services, kind: str, policy_id: int) -> LifecyclePolicy:
    for p in list_policies(services, kind):
        if p.id == policy_id:
            return p
    raise NotFound(f"{kind} policy", policy_id)


def remove_policy(services: Services, kind: str, policy_id: int) -> None:
    with services.db.connection() as conn:
        if (
            conn.execute(
                queries(services)["delete_policy"], {"id": policy_id, "kind": kind}
            ).fetchone()
            is None
        ):
            raise NotFound(f"{kind} policy", policy_id)


# -- running ----------------------------------------------------------------


def _statements(p: LifecyclePolicy, salt: str) -> tuple[sql.Composed, sql.Composed, dict[str, Any]]:
    """(batch statement over a page range, eligible-row predicate, its parameters)."""
    t = sql.Identifier(p.table_schema, p.table_name)
    col = sql.Identifier(p.column)
    if p.kind == "retention":
        where = sql.SQL("{c} < %(cutoff)s").format(c=col)
        batch = sql.SQL(
            "DELETE FROM {t} WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid AND {w}"
        ).format(t=t, w=where)
        return batch, where, {}
    age = sql.Identifier(p.age_column or "created_at")
    clear, value = {
        "null": ("{c} IS NOT NULL", "NULL"),
        "redact": ("{c} IS NOT NULL AND {c} <> %(redacted)s", "%(redacted)s"),
        "hash": (
            "{c} IS NOT NULL AND {c} !~ %(hash_re)s",
            "%(prefix)s || encode(sha256(convert_to(%(salt)s || {c}, 'UTF8')), 'hex')",
        ),
        "ip-prefix": (
            "{c} IS NOT NULL AND masklen({c}) > CASE WHEN family({c}) = 4 THEN 24 ELSE 48 END",
            "network(set_masklen({c}, CASE WHEN family({c}) = 4 THEN 24 ELSE 48 END))",
        ),
    }[p.method or ""]
    where = sql.SQL("{a} < %(cutoff)s AND {clear}").format(
        a=age, clear=sql.SQL(clear).format(c=col)
    )
    batch = sql.SQL(
        "UPDATE {t} SET {c} = {v} WHERE ctid >= %(lo)s::tid AND ctid < %(hi)s::tid AND {w}"
    ).format(t=t, c=col, v=sql.SQL(value).format(c=col), w=where)
    params = {
        "redacted": REDACTED,
        "hash_re": f"^{HASH_PREFIX}[0-9a-f]{{64}}$",
        "prefix": HASH_PREFIX,
        "salt": salt,
    }
    return batch, where, params


def eligible_rows(services: Services, p: LifecyclePolicy) -> int:
    """Rows the policy would still delete or mask now (0 after a complete run)."""
    _, where, params = _statements(p, str(services.config.get("ops.mask_salt")))
    with services.db.connection() as conn:
        cutoff = _cutoff(conn, services, p)
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {t} WHERE {w}").format(
                t=sql.Identifier(p.table_schema, p.table_name), w=where
            ),
            {**params, "cutoff": cutoff},
        ).fetchone()
    return int(row[0]) if row else 0


def _cutoff(conn: psycopg.Connection, services: Services, p: LifecyclePolicy) -> datetime:
    row = conn.execute(queries(services)["cutoff"], {"span": p.older_than or "0"}).fetchone()
    assert row is not None
    return row[0]


def run_policies(
    services: Services,
    kind: str,
    *,
    policy_id: int | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
    pause: float | None = None,
) -> list[RunRecord]:
    """Run every enabled policy of `kind` (or one by id); one run record each.

    `batch_size` and `pause` override ops.batch_size and ops.batch_pause for this call.
    """
    if kind not in KINDS:
        raise InputInvalid("kind", kind, "must be retention or mask")
    chosen = [
        p
        for p in list_policies(services, kind)
        if (policy_id is None and p.enabled) or p.id == policy_id
    ]
    if policy_id is not None and not chosen:
        raise NotFound(f"{kind} policy", policy_id)
    records = []
    for p in chosen:

        def body(ctx: RunContext, p: LifecyclePolicy = p) -> dict[str, Any]:
            return _run_one(ctx, p, on_batch, batch_size, pause)

        records.append(
            run_op(
                services,
                kind,
                p.target,
                body,
                dry_run=dry_run,
                params={"policy_id": p.id, "policy": p.describe()},
            )
        )
    return records


def _run_one(
    ctx: RunContext,
    p: LifecyclePolicy,
    on_batch: Callable[[int, int], None] | None,
    batch_size: int | None = None,
    pause: float | None = None,
) -> dict[str, Any]:
    lock_ms = int(float(ctx.services.config.get("ops.lock_timeout")) * 1000)
    with ctx.services.db.connection() as conn:
        # every statement of the run, catalog reads included, gives up on a held lock
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(lock_ms)))
        conn.commit()
        try:
            return _walk(ctx, p, on_batch, conn, lock_ms, batch_size, pause)
        except psycopg.errors.LockNotAvailable:
            raise OpSkipped(
                f"{p.table}: a lock was not granted within {lock_ms} ms (another session "
                "holds one); nothing changed, the next run retries"
            ) from None
        except psycopg.errors.ForeignKeyViolation as exc:
            detail = (exc.diag.message_primary or str(exc)).strip()
            raise OpsError(
                f"{p.kind} policy {p.id} on {p.table}: rows are still referenced ({detail}); "
                "purge the referencing table first (give it a retention policy of its own)"
            ) from None
        finally:
            conn.rollback()
            conn.execute("RESET lock_timeout")
            conn.commit()


def _walk(
    ctx: RunContext,
    p: LifecyclePolicy,
    on_batch: Callable[[int, int], None] | None,
    conn: psycopg.Connection,
    lock_ms: int,
    batch_size: int | None,
    pause_override: float | None,
) -> dict[str, Any]:
    services = ctx.services
    cfg = services.config
    q = queries(services)
    batch_rows = batch_size or int(cfg.get("ops.batch_size"))
    pause = float(cfg.get("ops.batch_pause") if pause_override is None else pause_override)
    batch, where, params = _statements(p, str(cfg.get("ops.mask_salt")))
    t = sql.Identifier(p.table_schema, p.table_name)
    verb = "deleted" if p.kind == "retention" else "masked"
    found = conn.execute(
        q["table_column"],
        {"schema_name": p.table_schema, "table_name": p.table_name, "column": p.column},
    ).fetchone()
    if found is None or found[1] is None:
        raise OpsError(
            f"{p.kind} policy {p.id}: table {p.table} or its column {p.column} no longer "
            f"exists; remove the policy with `pgwarden ops {p.kind} remove {p.id}`"
        )
    oid = int(found[4])
    state = p.state or {}
    resumed = bool(state)
    if resumed:
        cutoff = datetime.fromisoformat(state["cutoff"])
        page, end_page, done, batches = (
            int(state["page"]),
            int(state["end_page"]),
            int(state["done"]),
            int(state.get("batches", 0)),
        )
    else:
        cutoff = _cutoff(conn, services, p)
        got = conn.execute(q["relation_pages"], {"oid": oid}).fetchone()
        assert got is not None
        page, end_page, done, batches = 0, int(got[0]), 0, 0
    conn.commit()
    if ctx.dry_run:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {t} WHERE {w}").format(t=t, w=where),
            {**params, "cutoff": cutoff},
        ).fetchone()
        n = int(row[0]) if row else 0
        return {
            "would_" + ("delete" if p.kind == "retention" else "mask"): n,
            "cutoff": cutoff,
            "resumable_state": state or None,
        }
    got = conn.execute(q["relation_pages"], {"oid": oid}).fetchone()
    per_page = max(1.0, float(got[1]) if got and got[1] else 50.0)
    conn.commit()
    pages = max(1, min(MAX_PAGES_PER_BATCH, int(batch_rows / per_page)))
    longest = 0.0
    started = time.perf_counter()
    ctx.result.update(cutoff=cutoff, resumed_from_page=page if resumed else None)

    def save(next_page: int) -> None:
        conn.execute(
            q["save_policy_state"],
            {
                "id": p.id,
                "run_id": ctx.run_id,
                "state": Jsonb(
                    {
                        "cutoff": cutoff.isoformat(),
                        "page": next_page,
                        "end_page": end_page,
                        "done": done,
                        "batches": batches,
                    }
                ),
            },
        )

    while page < end_page:
        hi = min(end_page, page + pages)
        t0 = time.perf_counter()
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_ms)))
                n = conn.execute(
                    batch, {**params, "cutoff": cutoff, "lo": f"({page},0)", "hi": f"({hi},0)"}
                ).rowcount
                done += max(n, 0)
                batches += 1
                save(hi)
        except psycopg.errors.LockNotAvailable:
            if not resumed and done == 0:
                with conn.transaction():
                    conn.execute(
                        q["save_policy_state"],
                        {"id": p.id, "run_id": ctx.run_id, "state": None},
                    )
                raise OpSkipped(
                    f"{p.table}: a lock was not granted within {lock_ms} ms (another session "
                    f"holds one); nothing {verb}, the next run retries"
                ) from None
            ctx.partial = (
                f"{p.table}: a lock was not granted within {lock_ms} ms after {done} rows "
                f"{verb}; the next run resumes at page {page}"
            )
            return {verb: done, "batches": batches, "longest_batch_s": round(longest, 4)}
        took = time.perf_counter() - t0
        longest = max(longest, took)
        page = hi
        # aim each batch at about batch_rows rows: scan more pages where few rows qualify
        if n <= 0:
            pages = min(MAX_PAGES_PER_BATCH, pages * 2)
        else:
            pages = max(1, min(MAX_PAGES_PER_BATCH, int(pages * batch_rows / n)))
        if on_batch:
            on_batch(batches, done)
        if pause:
            time.sleep(pause)
    swept = 0
    if p.kind == "mask":
        # rows moved behind the walk by concurrent updates: walk again up to the last
        for _ in range(SWEEP_BATCHES):
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_ms)))
                left = conn.execute(
                    sql.SQL("SELECT max(ctid) FROM {t} WHERE {w}").format(t=t, w=where),
                    {**params, "cutoff": cutoff},
                ).fetchone()
            if not left or left[0] is None:
                break
            # walk again over the pages up to the last eligible row
            last_page = int(str(left[0]).strip("()").split(",")[0]) + 1
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_ms)))
                n = conn.execute(
                    batch, {**params, "cutoff": cutoff, "lo": "(0,0)", "hi": f"({last_page},0)"}
                ).rowcount
            swept += max(n, 0)
            done += max(n, 0)
    with conn.transaction():
        conn.execute(q["save_policy_state"], {"id": p.id, "run_id": ctx.run_id, "state": None})
    seconds = time.perf_counter() - started
    log.info(
        "%s policy %d on %s: %d rows %s in %d batches",
        p.kind,
        p.id,
        p.table,
        done,
        verb,
        batches,
        extra={"action": f"ops_{p.kind}"},
    )
    return {
        verb: done,
        "batches": batches,
        "swept": swept,
        "longest_batch_s": round(longest, 4),
        "seconds": round(seconds, 3),
        "rows_per_s": round(done / seconds, 1) if seconds > 0 else None,
    }


def preview(services: Services, policy: LifecyclePolicy) -> RunRecord:
    """A dry run of a policy that may not be stored: counts the eligible rows, changes nothing."""
    verb = "would_delete" if policy.kind == "retention" else "would_mask"
    return run_op(
        services,
        policy.kind,
        policy.target,
        lambda ctx: {verb: eligible_rows(services, policy)},
        dry_run=True,
        params={"policy": policy.describe()},
    )
