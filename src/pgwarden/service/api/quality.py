"""/api/quality: stored batch results and the daily report."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from pgwarden import quality
from pgwarden.errors import InputInvalid
from pgwarden.quality import report
from pgwarden.quality.model import BatchStatus
from pgwarden.service.api.auth import require_read
from pgwarden.service.http import plain, require_known_source, services_of
from pgwarden.services import Services

# The report looks back (trend days) and forward (the day's end) from its day.
REPORT_DAYS = (date(1970, 1, 1), date(9999, 1, 1))


def _report_day(services: Services, day: date | None) -> date:
    if day is None:
        return services.clock().date()
    low, high = REPORT_DAYS
    if not low <= day <= high:
        raise InputInvalid("date", day.isoformat(), f"a day between {low} and {high}")
    return day


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
    if status is not None and status.upper() not in set(BatchStatus):
        raise InputInvalid("status", status, f"one of {', '.join(BatchStatus)}")
    return plain(quality.list_batches(services, source=source, status=status, limit=limit))


@router.get("/report")
def quality_report(request: Request, day: date | None = Query(None, alias="date")) -> Any:
    services = services_of(request)
    return plain(report.daily_report(services, _report_day(services, day)))


@router.get("/report.html")
def quality_report_html(
    request: Request, day: date | None = Query(None, alias="date")
) -> HTMLResponse:
    services = services_of(request)
    rep = report.daily_report(services, _report_day(services, day))
    return HTMLResponse(report.render_html(rep))
