"""Thin HTTP wrappers over pgwarden.health: targets, checklist, locks, indexes, tables,
statements and the report."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from pgwarden.errors import InputInvalid
from pgwarden.service.api.auth import require_read
from pgwarden.service.http import services_of

router = APIRouter(prefix="/api/health", tags=["health"], dependencies=[Depends(require_read)])


def _json(value: Any) -> JSONResponse:
    from pgwarden.health.report import to_json

    return JSONResponse(json.loads(to_json(value)))


@router.get("/targets")
def targets(request: Request) -> Any:
    """Watched targets (host, port and database only; never the DSN's password)."""
    from pgwarden.db.conninfo import describe_target
    from pgwarden.health import runtime_for

    rt = runtime_for(services_of(request))
    return [{"name": t.name, "target": describe_target(t.dsn)} for t in rt.targets()]


@router.get("/check")
def check(request: Request, target: str | None = None) -> Any:
    """The daily checklist with its exit code (0 pass, 1 warn, 2 fail)."""
    from pgwarden import health

    return _json(health.checklist(services_of(request), target))


@router.get("/locks")
def locks(request: Request, target: str = "self") -> Any:
    from pgwarden import health

    return _json(health.locks(services_of(request), target))


@router.get("/indexes")
def indexes(request: Request, target: str = "self") -> Any:
    from pgwarden import health

    return _json(health.indexes(services_of(request), target))


@router.get("/tables")
def tables(request: Request, target: str = "self", top: int = Query(20, ge=1, le=500)) -> Any:
    from pgwarden import health

    return _json(health.tables(services_of(request), target, top))


@router.get("/statements")
def statements(request: Request, target: str = "self", top: int = Query(20, ge=1, le=500)) -> Any:
    from pgwarden import health

    return _json(health.statements(services_of(request), target, top))


@router.get("/report", response_model=None)
def report(
    request: Request, target: str = "self", period: str = "daily", format: str = "json"
) -> Any:
    from pgwarden.health import report as rep

    if period not in rep.PERIODS:
        raise InputInvalid("period", period, "must be daily or weekly")
    if format not in ("json", "html"):
        raise InputInvalid("format", format, "must be json or html")
    data = rep.build(services_of(request), target, rep.PERIODS[period])
    if format == "html":
        return HTMLResponse(rep.to_html(data))
    return _json(data)
