"""Dashboard pages: overview, sources, alerts, models, partitions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from pgwarden import __version__
from pgwarden.service.api.auth import require_read
from pgwarden.service.dashboard import data, svg
from pgwarden.service.http import services_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_read)])

HOUR = timedelta(hours=1)
OVERVIEW_WINDOW = timedelta(minutes=30)
OVERVIEW_BUCKET = 20  # seconds


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("pgwarden.service.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["ts"] = lambda v: "–" if v is None else str(v)[:19].replace("T", " ")
    env.filters["secs"] = _secs
    return env


def _number(v: Any) -> float | None:
    """A value the number filters can format; None for text (an alert's observed
    value may be 'REJECTED' or a date)."""
    if isinstance(v, bool) or v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _pct(v: Any) -> str:
    x = _number(v)
    if x is None:
        return "–" if v is None or v == "" else str(v)
    return f"{x * 100:.1f}%"


def _num(v: Any) -> str:
    x = _number(v)
    if x is None:
        return "–" if v is None or v == "" else str(v)
    v = x
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if abs(v) >= 10_000:
        return f"{v / 1000:.1f}k"
    return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}"


def _secs(v: Any) -> str:
    x = _number(v)
    if x is None:
        return "–" if v is None or v == "" else str(v)
    v = x
    if abs(v) >= 86400:
        return f"{v / 86400:.1f} d"
    if abs(v) >= 3600:
        return f"{v / 3600:.1f} h"
    if abs(v) >= 1:
        return f"{v:.2f} s"
    return f"{v * 1000:.0f} ms"


def _alerts_chart(counts: dict[str, int]) -> Markup:
    return Markup(
        svg.bar_chart(
            [(k, float(counts.get(k, 0))) for k in ("critical", "high", "medium", "low")],
            title="open alerts by severity",
            colours=svg.SEVERITY_COLOURS,
        )
    )


def _models_chart(stats: dict[str, Any]) -> Markup:
    rows = stats.get("models", [])
    return Markup(
        svg.bar_chart(
            [(f"{r['model_id']}/{r['role'][:2]}", r["mean_seconds"] * 1000) for r in rows],
            title="mean run time per model version, last hour (ms)",
        )
    )


def _floor(series: dict[str, list[tuple[datetime, float]]]) -> float:
    """A y-axis floor under the lowest score, in steps of 0.05 (0.98 vs 0.95 stays visible)."""
    values = [v for pts in series.values() for _, v in pts]
    if not values:
        return 0.0
    return max(0.0, int(min(values) * 20 - 1) / 20)


def _render(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    html = (
        _env()
        .get_template(template)
        .render(
            page=page,
            version=__version__,
            now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            **context,
        )
    )
    return HTMLResponse(html)


# The name other dashboard pages import (one definition: service/http.py).
_services = services_of


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    s = services_of(request)
    tl = data.panel(lambda: data.timeline(s, OVERVIEW_WINDOW, OVERVIEW_BUCKET))
    charts: dict[str, Markup] = {}
    if tl.data:
        end = datetime.now(UTC)
        start = end - OVERVIEW_WINDOW
        charts["quality"] = Markup(
            svg.line_chart(
                tl.data["quality"],
                y_min=_floor(tl.data["quality"]),
                y_max=1,
                title="quality by source (30 min)",
                x_min=start,
                x_max=end,
            )
        )
        charts["records"] = Markup(
            svg.line_chart(
                tl.data["records_per_s"],
                y_min=0,
                title="records/s by source (30 min)",
                x_min=start,
                x_max=end,
            )
        )
    counts = data.panel(lambda: data.alert_counts(s))
    if counts.data is not None:
        charts["alerts"] = _alerts_chart(counts.data)
    stats = data.panel(lambda: data.model_stats(s))
    if stats.data:
        charts["models"] = _models_chart(stats.data)
    return _render(
        request,
        "overview.html",
        "overview",
        throughput=data.panel(lambda: data.throughput(s, timedelta(minutes=5))),
        hour=data.panel(lambda: data.throughput(s, HOUR)),
        timeline=tl,
        counts=counts,
        stats=stats,
        charts=charts,
        alerts=data.panel(lambda: data.open_alerts(s, 8)),
        compare=data.panel(lambda: data.comparisons(s)),
        partitions=data.panel(lambda: data.partition_status(s)),
        sources=data.panel(lambda: data.source_summary(s, HOUR)),
    )


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request) -> HTMLResponse:
    s = services_of(request)
    tl = data.panel(lambda: data.timeline(s, timedelta(hours=24), 300))
    sparks: dict[str, Markup] = {}
    if tl.data:
        for source, pts in tl.data["quality"].items():
            sparks[source] = Markup(svg.sparkline([v for _, v in pts]))
    end = datetime.now(UTC)
    chart = (
        Markup(
            svg.line_chart(
                tl.data["quality"],
                y_min=_floor(tl.data["quality"]),
                y_max=1,
                title="quality by source, 24 h (5 min buckets)",
                x_min=end - timedelta(hours=24),
                x_max=end,
            )
        )
        if tl.data
        else None
    )
    return _render(
        request,
        "sources.html",
        "sources",
        summary=data.panel(lambda: data.source_summary(s, timedelta(hours=24))),
        batches=data.panel(lambda: data.recent_batches(s, 30)),
        sparks=sparks,
        chart=chart,
        timeline=tl,
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    s = services_of(request)
    counts = data.panel(lambda: data.alert_counts(s))
    chart = _alerts_chart(counts.data) if counts.data is not None else None
    return _render(
        request,
        "alerts.html",
        "alerts",
        alerts=data.panel(lambda: data.open_alerts(s, 200)),
        counts=counts,
        chart=chart,
    )


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> HTMLResponse:
    s = services_of(request)
    stats = data.panel(lambda: data.model_stats(s))
    chart = _models_chart(stats.data) if stats.data else None
    return _render(
        request,
        "models.html",
        "models",
        models=data.panel(lambda: data.model_list(s)),
        stats=stats,
        chart=chart,
        compare=data.panel(lambda: data.comparisons(s)),
    )


@router.get("/partitions", response_class=HTMLResponse)
def partitions_page(request: Request) -> HTMLResponse:
    s = services_of(request)
    status = data.panel(lambda: data.partition_status(s))
    chart = None
    if status.data:
        chart = Markup(
            svg.hbar_chart(
                [(str(t["table"]), (t.get("horizon_seconds") or 0) / 86400) for t in status.data],
                title="partition horizon: days from now to the last partition's upper bound",
                unit=" d",
            )
        )
    return _render(
        request,
        "partitions.html",
        "partitions",
        status=status,
        plan=data.panel(lambda: data.partition_plan(s)),
        chart=chart,
    )
