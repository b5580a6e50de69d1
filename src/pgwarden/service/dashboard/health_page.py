"""The dashboard's database page: connections, cache hit and TPS over time, lock waits now,
top statements, biggest tables and their growth, unused indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from pgwarden.service.api.auth import require_read
from pgwarden.service.dashboard import data, health_data, svg
from pgwarden.service.dashboard.pages import _render
from pgwarden.service.http import services_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_read)])

WINDOW = timedelta(hours=6)


@router.get("/database", response_class=HTMLResponse)
def database_page(request: Request, target: str = "self") -> HTMLResponse:
    s = services_of(request)
    points = data.panel(lambda: health_data.series(s, target, WINDOW))
    charts: dict[str, Markup] = {}
    if points.data:
        end = datetime.now(UTC)
        start = end - WINDOW
        for key, title, scale in (
            ("connections", "client connections (6 h)", 1.0),
            ("cache_hit", "cache hit ratio, % (6 h)", 100.0),
            ("tps", "transactions per second (6 h)", 1.0),
        ):
            pts = [(p["t"], p[key] * scale) for p in points.data if p.get(key) is not None]
            charts[key] = Markup(
                svg.line_chart({key: pts}, y_min=0, title=title, x_min=start, x_max=end)
            )
    return _render(
        request,
        "database.html",
        "database",
        target=target,
        series=points,
        charts=charts,
        window="6 h",
        latest=data.panel(lambda: health_data.latest(s, target, WINDOW)),
    )
