"""Thin HTTP wrappers over the features' public functions: quality, alerts, models, partitions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from pgwarden.errors import InputInvalid
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.services import Services

router = APIRouter(prefix="/api")


def _services(request: Request) -> Services:
    return request.app.state.services


def plain(value: Any) -> Any:
    """Feature results to JSON-ready values (they expose to_dict())."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value


def parse_since(text: str) -> timedelta:
    """'7d', '12h', '30m' -> timedelta."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise InputInvalid("since", text, "use a number and d, h or m, like 7d or 12h")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


# -- quality -------------------------------------------------------------------


@router.get("/quality/results", tags=["quality"], dependencies=[Depends(require_read)])
def quality_results(
    request: Request,
    source: str | None = None,
    status: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    from pgwarden import quality
    from pgwarden.service.api.batches import require_known_source

    services = _services(request)
    require_known_source(services, source)
    return plain(quality.list_batches(services, source=source, status=status, limit=limit))


@router.get("/quality/report", tags=["quality"], dependencies=[Depends(require_read)])
def quality_report(request: Request, day: date | None = Query(None, alias="date")) -> Any:
    from pgwarden.quality import report

    services = _services(request)
    return plain(report.daily_report(services, day or services.clock().date()))


@router.get("/quality/report.html", tags=["quality"], dependencies=[Depends(require_read)])
def quality_report_html(
    request: Request, day: date | None = Query(None, alias="date")
) -> HTMLResponse:
    from pgwarden.quality import report

    services = _services(request)
    rep = report.daily_report(services, day or services.clock().date())
    return HTMLResponse(report.render_html(rep))


# -- alerts --------------------------------------------------------------------


@router.get("/alerts", tags=["alerts"], dependencies=[Depends(require_read)])
def list_alerts(
    request: Request,
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    from pgwarden import alerts
    from pgwarden.service.api.batches import require_known_source

    services = _services(request)
    require_known_source(services, source)
    return plain(
        alerts.list_alerts(services, status=status, severity=severity, source=source, limit=limit)
    )


class Who(BaseModel):
    who: str | None = None
    reason: str | None = None


@router.post("/alerts/{alert_id}/ack", tags=["alerts"], dependencies=[Depends(require_write)])
def ack_alert(request: Request, alert_id: int, body: Who | None = None) -> Any:
    from pgwarden import alerts

    return plain(alerts.acknowledge(_services(request), alert_id, (body and body.who) or "api"))


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"], dependencies=[Depends(require_write)])
def resolve_alert(request: Request, alert_id: int, body: Who | None = None) -> Any:
    from pgwarden import alerts

    return plain(alerts.resolve(_services(request), alert_id, (body and body.who) or "api"))


# -- models --------------------------------------------------------------------


@router.get("/models", tags=["models"], dependencies=[Depends(require_read)])
def list_models(request: Request) -> Any:
    from pgwarden import models

    return plain(models.list_models(_services(request)))


@router.get("/models/graph", tags=["models"], dependencies=[Depends(require_read)])
def model_graph(request: Request, fmt: str = Query("json", alias="format")) -> Any:
    from pgwarden import models

    g = models.graph(_services(request))
    if fmt == "dot":
        return {"format": "dot", "text": g.to_dot()}
    if fmt == "mermaid":
        return {"format": "mermaid", "text": g.to_mermaid()}
    return plain(g)


class VersionAction(BaseModel):
    version: str
    reason: str | None = None
    force: bool = False
    who: str | None = None


@router.post("/models/{model_id}/promote", tags=["models"], dependencies=[Depends(require_write)])
def promote(request: Request, model_id: str, body: VersionAction) -> Any:
    from pgwarden import models

    return plain(
        models.promote(
            _services(request),
            model_id,
            body.version,
            who=body.who or "api",
            reason=body.reason,
            force=body.force,
        )
    )


@router.post("/models/{model_id}/archive", tags=["models"], dependencies=[Depends(require_write)])
def archive(request: Request, model_id: str, body: VersionAction) -> Any:
    from pgwarden import models

    return plain(
        models.archive(
            _services(request), model_id, body.version, who=body.who or "api", reason=body.reason
        )
    )


@router.post("/models/{model_id}/rollback", tags=["models"], dependencies=[Depends(require_write)])
def rollback(request: Request, model_id: str, body: VersionAction) -> Any:
    from pgwarden import models

    return plain(
        models.rollback(
            _services(request), model_id, body.version, who=body.who or "api", reason=body.reason
        )
    )


@router.get("/models/{model_id}/compare", tags=["models"], dependencies=[Depends(require_read)])
def compare(request: Request, model_id: str, since: str = "7d") -> Any:
    from pgwarden import models

    return plain(models.compare(_services(request), model_id, parse_since(since)))


# -- partitions ----------------------------------------------------------------


@router.get("/partitions", tags=["partitions"], dependencies=[Depends(require_read)])
def partition_status(request: Request) -> Any:
    from pgwarden import partitions

    return plain(partitions.status(_services(request)))


def _managed(services: Services, table: str | None) -> None:
    """404 for a table that has no partition policy (a typo, not a bad request)."""
    if table is None:
        return
    from pgwarden import partitions
    from pgwarden.errors import NotFound

    wanted = str(partitions.parse_table_name(table))
    if wanted not in {plain(t)["table"] for t in partitions.status(services)}:
        raise NotFound("table", table)


@router.get("/partitions/plan", tags=["partitions"], dependencies=[Depends(require_read)])
def partition_plan(request: Request, table: str | None = None) -> Any:
    from pgwarden import partitions

    services = _services(request)
    _managed(services, table)
    return plain(partitions.plan_all(services, table=table))


class RunRequest(BaseModel):
    table: str | None = None
    dry_run: bool = False


@router.post("/partitions/run", tags=["partitions"], dependencies=[Depends(require_write)])
def partition_run(request: Request, body: RunRequest | None = None) -> Any:
    from pgwarden import partitions

    body = body or RunRequest()
    services = _services(request)
    _managed(services, body.table)
    return plain(partitions.run_maintenance(services, table=body.table, dry_run=body.dry_run))
