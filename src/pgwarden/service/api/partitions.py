"""/api/partitions: status, the plan, and a maintenance run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from pgwarden import partitions
from pgwarden.errors import NotFound
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.service.http import plain, services_of
from pgwarden.services import Services

router = APIRouter(prefix="/api/partitions", tags=["partitions"])


@router.get("", dependencies=[Depends(require_read)])
def partition_status(request: Request) -> Any:
    return plain(partitions.status(services_of(request)))


def _managed(services: Services, table: str | None) -> None:
    """404 for a table that has no partition policy (a typo, not a bad request)."""
    if table is None:
        return
    wanted = str(partitions.parse_table_name(table))
    if wanted not in {plain(t)["table"] for t in partitions.status(services)}:
        raise NotFound("table", table)


@router.get("/plan", dependencies=[Depends(require_read)])
def partition_plan(request: Request, table: str | None = None) -> Any:
    services = services_of(request)
    _managed(services, table)
    return plain(partitions.plan_all(services, table=table))


class RunRequest(BaseModel):
    table: str | None = None
    dry_run: bool = False


@router.post("/run", dependencies=[Depends(require_write)])
def partition_run(request: Request, body: RunRequest | None = None) -> Any:
    body = body or RunRequest()
    services = services_of(request)
    _managed(services, body.table)
    return plain(partitions.run_maintenance(services, table=body.table, dry_run=body.dry_run))
