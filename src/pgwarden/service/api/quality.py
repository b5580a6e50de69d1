"""/api/quality: stored batch results and the daily report."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from pgwarden import quality
from pgwarden.quality import report
from pgwarden.service.api.auth import require_read
from pgwarden.service.http import plain, require_known_source, services_of

router = APIRouter(prefix="/api/quality", tags=["quality"], dependencies=[Depends(require_read)])


@router.get("/results")
def quality_results(
    request: Request,
    source: str | None = None,
    status: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    services = services_of(request)
    require_known_source(services, source)
    return plain(quality.list_batches(services, source=source, status=status, limit=limit))


@router.get("/report")
def quality_report(request: Request, day: date | None = Query(None, alias="date")) -> Any:
    services = services_of(request)
    return plain(report.daily_report(services, day or services.clock().date()))


@router.get("/report.html")
def quality_report_html(
    request: Request, day: date | None = Query(None, alias="date")
) -> HTMLResponse:
    services = services_of(request)
    rep = report.daily_report(services, day or services.clock().date())
    return HTMLResponse(report.render_html(rep))
