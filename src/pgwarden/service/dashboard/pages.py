"""Dashboard pages: overview, sources, alerts, models, partitions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from pgwarden import __version__
from pgwarden.service.api.auth import require_read
from pgwarden.service.dashboard import data, svg
from pgwarden.service.http import services_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_read)])

HOUR = timedelta(hours=1)
FULL_WIDTH = 1230  # px: a chart across a whole card at the page's widest (1280 - padding)
NARROW_WIDTH = 640  # px: the same chart for a phone, shrunk with larger text by the CSS
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
    env.filters["wbr"] = _wbr
    env.filters["val"] = _val
    return env


def _val(v: Any) -> str:
    """An observed or expected value: rates keep three significant digits."""
    x = _number(v)
    if x is not None and math.isfinite(x) and 0 < abs(x) < 1:
        return f"{x:.3g}"
    return _num(v)


def _wbr(v: Any) -> Markup:
    """A dotted identifier that may break after its dots (schema.table, demo.spike)."""
    return Markup(".<wbr>").join(escape(str(v)).split("."))


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

    def quality_chart(width: int) -> Markup | None:
        if not tl.data:
            return None
        return Markup(
            svg.line_chart(
                tl.data["quality"],
                y_min=_floor(tl.data["quality"]),
                y_max=1,
                title="quality by source, 24 h (5 min buckets)",
                x_min=end - timedelta(hours=24),
                x_max=end,
                width=width,
            )
        )

    # one chart drawn for the whole card, one for a phone (the page shows one)
    return _render(
        request,
        "sources.html",
        "sources",
        summary=data.panel(lambda: data.source_summary(s, timedelta(hours=24))),
        batches=data.panel(lambda: data.recent_batches(s, 30)),
        sparks=sparks,
        chart=quality_chart(FULL_WIDTH),
        chart_narrow=quality_chart(NARROW_WIDTH),
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
        anomalies=data.panel(lambda: data.recent_anomalies(s, 20)),
        counts=counts,
        chart=chart,
    )


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> HTMLResponse:
    s = services_of(request)
    stats = data.panel(lambda: data.model_stats(s))
    chart = _models_chart(stats.data) if stats.data else None
    graph = data.panel(lambda: data.model_graph(s))
    return _render(
        request,
        "models.html",
        "models",
        models=data.panel(lambda: data.model_list(s)),
        stats=stats,
        chart=chart,
        graph=graph,
        graph_svg=_graph_chart(graph.data) if graph.data else None,
        compare=data.panel(lambda: data.comparisons(s)),
    )


def _graph_chart(g: Any) -> Markup:
    """The models' dependency graph (what `pgwarden models graph` prints) as SVG."""
    nodes = []
    for n in g.nodes:
        detail = n.primary or "no primary"
        if n.candidates:
            detail += " + " + ", ".join(n.candidates)
        if n.state != "runs":
            detail += f" · {n.state}"
        nodes.append((n.model_id, n.level, detail, n.state))
    edges = [(e.depends_on, e.model_id, e.input_key) for e in g.edges]
    return Markup(svg.dag_chart(nodes, edges, title="dependency graph (data flows left to right)"))


@router.get("/partitions", response_class=HTMLResponse)
def partitions_page(request: Request) -> HTMLResponse:
    s = services_of(request)
    status = data.panel(lambda: data.partition_status(s))

    def horizon_chart(width: int, narrow: bool = False) -> Markup | None:
        if not status.data:
            return None
        # on a phone the bars are labelled by table name alone (the schema is in the table)
        bars = [
            (
                str(t["table"]).rsplit(".", 1)[-1] if narrow else str(t["table"]),
                (t.get("horizon_seconds") or 0) / 86400,
            )
            for t in status.data
        ]
        return Markup(
            svg.hbar_chart(
                bars,
                title="partition horizon (days ahead)"
                if narrow
                else "partition horizon: days from now to the last partition's upper bound",
                unit=" d",
                width=width,
                label_width=300,
            )
        )

    return _render(
        request,
        "partitions.html",
        "partitions",
        status=status,
        plan=data.panel(lambda: data.partition_plan(s)),
        chart=horizon_chart(FULL_WIDTH),
        chart_narrow=horizon_chart(NARROW_WIDTH, narrow=True),
    )
