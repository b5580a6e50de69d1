"""`partitions retention`: row retention on an unpartitioned table, as a stored ops policy.

It lives in ops (not partitions) because it is an ops lifecycle policy; the
`partitions retention` command only keeps the name users know.

The command stays for those who know it; it registers (or replaces) a
retention policy for the table and column (`pgwarden ops retention list`
shows it) and runs that one policy through the operations runner: batched
deletes, each batch its own short transaction, a run record, resumable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pgwarden.ops.lifecycle import add_policy, preview, run_policies

if TYPE_CHECKING:
    from pgwarden.services import Services


@dataclass(frozen=True)
class RetentionReport:
    run_id: int
    table: str
    column: str
    cutoff: datetime | None
    deleted: int  # rows deleted (or, in a dry run, rows that would be)
    batches: int
    dry_run: bool
    duration_s: float
    policy_id: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
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
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Store a retention policy for (table, column) and run it; see `pgwarden.ops.lifecycle`."""

    policy = add_policy(
        services,
        "retention",
        table,
        column,
        older_than=older_than,
        source="partitions-retention",
        save=not dry_run,
    )
    if dry_run:
        run = preview(services, policy)
        return RetentionReport(
            run.id,
            policy.table,
            column,
            None,
            int(run.result["would_delete"]),
            0,
            True,
            0.0,
            0,
            run.status.value,
        )
    cfg = services.config
    [run] = run_policies(
        services,
        "retention",
        policy_id=policy.id,
        dry_run=dry_run,
        batch_size=batch_size or int(cfg.get("partitions.retention_batch_size")),
        pause=float(cfg.get("partitions.retention_batch_pause")) if pause is None else pause,
        on_batch=(lambda _batches, done: progress(done)) if progress else None,
    )
    r = run.result
    cutoff = r.get("cutoff")
    took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    return RetentionReport(
        run.id,
        policy.table,
        column,
        datetime.fromisoformat(cutoff) if cutoff else None,
        int(r.get("would_delete", r.get("deleted", 0))),
        int(r.get("batches", 0)),
        dry_run,
        took,
        policy.id,
        run.status.value,
    )
