"""Backup pruning by grandfather-father-son, with one stated reason per backup.

`decide` is pure (the clock is an argument). Its invariants, checked before
anything is deleted: the newest backup and the newest verified one are
kept; at least `min_verified` verified backups stay; nothing is deleted
while the newest backup attempt failed or is still running (no "delete,
then fail to back up").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.ops.runner import RunContext, RunRecord, queries, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupFacts:
    id: int
    started_at: datetime
    status: str  # COMPLETE, FAILED, RUNNING
    verified: bool


@dataclass(frozen=True)
class GfsPolicy:
    daily_days: int = 30
    weeklies: int = 8
    monthlies: int = 12
    min_verified: int = 1


@dataclass(frozen=True)
class Decision:
    backup_id: int
    started_at: datetime
    keep: bool
    reason: str

    def line(self) -> str:
        return f"{self.backup_id:>6}  {self.started_at:%Y-%m-%d %H:%M}  {self.reason}"


def _week(ts: datetime) -> tuple[int, int]:
    iso = ts.isocalendar()
    return iso[0], iso[1]


def decide(backups: Sequence[BackupFacts], now: datetime, policy: GfsPolicy) -> list[Decision]:
    """One decision per COMPLETE backup, newest first."""
    attempts = sorted(backups, key=lambda b: (b.started_at, b.id), reverse=True)
    complete = [b for b in attempts if b.status == "COMPLETE"]
    if attempts and attempts[0].status != "COMPLETE":
        why = "failed" if attempts[0].status == "FAILED" else "is still running"
        return [
            Decision(
                b.id,
                b.started_at,
                True,
                f"keep: the newest backup attempt {why}; "
                "nothing is deleted until a newer backup succeeds",
            )
            for b in complete
        ]
    this_week = now - timedelta(days=now.weekday())
    oldest_week = _week(this_week - timedelta(weeks=max(policy.weeklies - 1, 0)))
    first_month = (now.year * 12 + now.month - 1) - max(policy.monthlies - 1, 0)
    newest_verified = next((b.id for b in complete if b.verified), None)
    seen_weeks: set[tuple[int, int]] = set()
    seen_months: set[int] = set()
    decisions: list[Decision] = []
    for i, b in enumerate(complete):
        age = now - b.started_at
        week, month = _week(b.started_at), b.started_at.year * 12 + b.started_at.month - 1
        first_of_week, first_of_month = week not in seen_weeks, month not in seen_months
        seen_weeks.add(week)
        seen_months.add(month)
        if i == 0:
            reason = "keep: newest backup"
        elif b.id == newest_verified:
            reason = "keep: newest verified"
        elif age < timedelta(days=policy.daily_days):
            reason = f"keep: daily, {age.days} d old (dailies kept {policy.daily_days} d)"
        elif policy.weeklies and first_of_week and week >= oldest_week:
            reason = f"keep: weekly {week[0]}-W{week[1]:02d}"
        elif policy.monthlies and first_of_month and month >= first_month:
            reason = f"keep: monthly {b.started_at:%Y-%m}"
        else:
            reason = (
                f"delete: {age.days} d old, past the {policy.daily_days} d dailies and not the "
                "newest of a kept week or month"
            )
        decisions.append(Decision(b.id, b.started_at, reason.startswith("keep"), reason))
    verified = {b.id for b in complete if b.verified}
    kept_verified = sum(1 for d in decisions if d.keep and d.backup_id in verified)
    for j, d in enumerate(decisions):
        if kept_verified >= policy.min_verified:
            break
        if not d.keep and d.backup_id in verified:
            decisions[j] = Decision(
                d.backup_id,
                d.started_at,
                True,
                f"keep: verified, and fewer than {policy.min_verified} verified would remain "
                "(ops.min_verified_backups)",
            )
            kept_verified += 1
    return decisions


def policy_from(services: Services) -> GfsPolicy:
    cfg = services.config
    return GfsPolicy(
        daily_days=int(cfg.get("ops.keep_daily_days")),
        weeklies=int(cfg.get("ops.keep_weekly")),
        monthlies=int(cfg.get("ops.keep_monthly")),
        min_verified=int(cfg.get("ops.min_verified_backups")),
    )


def prune(services: Services, *, dry_run: bool = False, now: datetime | None = None) -> RunRecord:
    """Apply `decide` to the catalog; a dry run deletes nothing and returns the lines."""
    from datetime import UTC

    from pgwarden.ops.backup import _remove, list_backups

    with services.db.connection() as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    target = str(row[0]) if row else "?"

    def body(ctx: RunContext) -> dict[str, Any]:
        found = list_backups(services, target)
        by_id = {b.id: b for b in found}
        facts = [BackupFacts(b.id, b.started_at, b.status, bool(b.verify_ok)) for b in found]
        decisions = decide(facts, now or datetime.now(UTC), policy_from(services))
        deleted = []
        if not ctx.dry_run:
            for d in decisions:
                if d.keep:
                    continue
                b = by_id[d.backup_id]
                for p in (b.path, b.manifest_path):
                    if p:
                        _remove(Path(p))
                with services.db.connection() as conn:
                    conn.execute(
                        queries(services)["mark_deleted"], {"id": b.id, "reason": d.reason}
                    )
                deleted.append(b.id)
        return {
            "decisions": [
                {"backup_id": d.backup_id, "keep": d.keep, "reason": d.reason} for d in decisions
            ],
            "lines": [d.line() for d in decisions],
            "deleted": deleted,
        }

    return run_op(services, "prune", target, body, dry_run=dry_run)
