"""/api/alerts: list, acknowledge and resolve alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from pgwarden import alerts
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.service.http import plain, require_known_source, services_of

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", dependencies=[Depends(require_read)])
def list_alerts(
    request: Request,
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    services = services_of(request)
    require_known_source(services, source)
    return plain(
        alerts.list_alerts(services, status=status, severity=severity, source=source, limit=limit)
    )


class Who(BaseModel):
    who: str | None = None
    reason: str | None = None


@router.post("/{alert_id}/ack", dependencies=[Depends(require_write)])
def ack_alert(request: Request, alert_id: int, body: Who | None = None) -> Any:
    return plain(alerts.acknowledge(services_of(request), alert_id, (body and body.who) or "api"))


@router.post("/{alert_id}/resolve", dependencies=[Depends(require_write)])
def resolve_alert(request: Request, alert_id: int, body: Who | None = None) -> Any:
    return plain(alerts.resolve(services_of(request), alert_id, (body and body.who) or "api"))
