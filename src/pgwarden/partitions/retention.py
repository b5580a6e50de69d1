"""Row retention for unpartitioned tables: delete old rows in small batches.

One big DELETE holds its row locks and its snapshot for the whole job and
bloats the table at once; batches of a few thousand rows, each committed,
with a pause between them, keep every transaction short. (A table this
matters for is a candidate for partitioning: then retention is a DROP.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import bounds, store
from pgwarden.partitions.policy import parse_span, parse_table_name

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    run_id: int
    table: str
    column: str
    cutoff: datetime
    deleted: int  # rows deleted (or, in a dry run, rows that would be)
    batches: int
    dry_run: bool
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["cutoff"] = self.cutoff.isoformat()
        return d


def delete_old_rows(
    services: Services,
    table: str,
    column: str,
    older_than: str,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    pause: float | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Delete rows whose `column` is older than `older_than` ('30 days'); report the count."""
    started = time.perf_counter()
    name = parse_table_name(table)
    span = parse_span(older_than, "older_than", str(name))
    now = now or datetime.now(UTC)
    cutoff = bounds.minus_span(now, span.months, span.days, UTC)
    cfg = services.config
    batch_size = batch_size or cfg.get("partitions.retention_batch_size")
    pause = cfg.get("partitions.retention_batch_pause") if pause is None else pause
    db = services.db
    q = store.queries(db)
    t = sql.Identifier(name.schema, name.name)
    col = sql.Identifier(column)
    with db.connection() as conn:
        found = conn.execute(
            q["table_column"],
            {"schema_name": name.schema, "table_name": name.name, "column": column},
        ).fetchone()
        if found is None:
            raise PartitionPolicyInvalid(str(name), "table", str(name), "no such table")
        kind, col_type = found
        if kind != "r":
            raise PartitionPolicyInvalid(
                str(name),
                "table",
                str(name),
                "row retention is for plain tables; give a partitioned table a policy instead",
            )
        if col_type not in bounds.KEY_TYPES:
            raise PartitionPolicyInvalid(
                str(name), "column", column, f"must be a timestamp or date column, not {col_type}"
            )
        with conn.transaction():
            row = conn.execute(
                q["start_run"],
                {
                    "kind": "retention",
                    "dry_run": dry_run,
                    "who": default_actor(),
                    "status": "running",
                },
            ).fetchone()
        assert row is not None
        run_id = int(row[0])
        deleted = batches = 0
        status, error = "ok", None
        try:
            if dry_run:
                got = conn.execute(
                    sql.SQL("SELECT count(*) FROM {t} WHERE {c} < %s").format(t=t, c=col),
                    [cutoff],
                ).fetchone()
                deleted = int(got[0]) if got else 0
                conn.commit()
            else:
                stmt = sql.SQL(
                    "DELETE FROM {t} WHERE ctid = ANY(ARRAY("
                    "SELECT ctid FROM {t} WHERE {c} < %s LIMIT %s))"
                ).format(t=t, c=col)
                while True:
                    with conn.transaction():
                        n = conn.execute(stmt, [cutoff, batch_size]).rowcount
                    batches += 1
                    deleted += max(n, 0)
                    if progress:
                        progress(deleted)
                    if n < batch_size:
                        break
                    if pause:
                        time.sleep(pause)
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with conn.transaction():
                conn.execute(
                    q["finish_run"],
                    {
                        "id": run_id,
                        "status": status,
                        "actions": Jsonb(
                            [
                                {
                                    "action": "delete_rows",
                                    "table": str(name),
                                    "column": column,
                                    "cutoff": cutoff.isoformat(),
                                    "rows": deleted,
                                    "batches": batches,
                                }
                            ]
                        ),
                        "errors": Jsonb([error] if error else []),
                        "message": f"{'would delete' if dry_run else 'deleted'} {deleted} rows",
                    },
                )
    log.info(
        "row retention on %s: %d rows %s",
        name,
        deleted,
        "counted" if dry_run else "deleted",
        extra={"action": "row_retention"},
    )
    return RetentionReport(
        run_id,
        str(name),
        column,
        cutoff,
        deleted,
        batches,
        dry_run,
        time.perf_counter() - started,
    )
