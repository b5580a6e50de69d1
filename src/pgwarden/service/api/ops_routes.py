"""Thin HTTP wrappers over pgwarden.ops: runs, backups, policies, checklists, capacity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from pgwarden.errors import InputInvalid
from pgwarden.jsonable import jsonable
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.service.http import services_of

router = APIRouter(prefix="/api/ops", tags=["ops"], dependencies=[Depends(require_read)])


@router.get("/runs")
def runs(request: Request, op: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Run records, newest first (status row of long work: RUNNING with its progress)."""
    from pgwarden.ops.runner import list_runs

    if not 1 <= limit <= 1000:
        raise InputInvalid("limit", limit, "must be between 1 and 1000")
    return [jsonable(r.to_dict()) for r in list_runs(services_of(request), op, limit)]


@router.get("/backups")
def backups(request: Request) -> list[dict[str, Any]]:
    """The backup catalog with age, size and verification."""
    from pgwarden.ops.backup import list_backups

    now = datetime.now(UTC)
    return [b.to_dict(now) for b in list_backups(services_of(request))]


@router.get("/policies")
def policies(request: Request, kind: str | None = None) -> list[dict[str, Any]]:
    """Stored retention and masking policies (an unfinished run's state included)."""
    from pgwarden.ops.lifecycle import KINDS, list_policies

    if kind is not None and kind not in KINDS:
        raise InputInvalid("kind", kind, "must be retention or mask")
    return [p.to_dict() for p in list_policies(services_of(request), kind)]


@router.get("/checklist/{cadence}")
def checklist(request: Request, cadence: str) -> list[dict[str, Any]]:
    """One checklist (daily, weekly, monthly, pre-deploy) computed from evidence now."""
    from pgwarden.ops.checklist import checklist as compute

    return [jsonable(i.to_dict()) for i in compute(services_of(request), cadence)]


@router.get("/capacity")
def capacity(request: Request) -> dict[str, Any]:
    """Projection from the stored size history (a GET records no new sample)."""
    from pgwarden.ops.capacity import capacity_report

    return capacity_report(services_of(request), sample=False)


@router.post("/run/{task}", dependencies=[Depends(require_write)], status_code=202)
def run(request: Request, task: str) -> dict[str, Any]:
    """Queue one operation now (backup, verify, prune, retention, mask, analyze, reindex)."""
    from pgwarden.ops.tasks import TASKS
    from pgwarden.service.defer import defer

    name = f"pgwarden.ops.{task}"
    if name not in TASKS:
        raise InputInvalid(
            "task", task, "must be one of " + ", ".join(t.rsplit(".", 1)[-1] for t in TASKS)
        )
    return {"task": name, "job_id": defer(services_of(request), name)}
