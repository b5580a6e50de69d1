"""The health report as one self-contained HTML page: inline CSS and SVG, no script, no CDN."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

W, H, PAD = 640, 180, 40


def line_chart(points: Sequence[float | None], title: str, fmt: str = "{:.1f}") -> str:
    """A polyline of the values (None breaks the line); axis labels at min and max."""
    values = [p for p in points if p is not None]
    if len(values) < 2:
        return f"<p class='muted'>{escape(title)}: not enough snapshots yet</p>"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = len(points)

    def xy(i: int, v: float) -> str:
        x = PAD + i * (W - 2 * PAD) / max(1, n - 1)
        y = H - PAD - (v - lo) / span * (H - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    segments: list[list[str]] = [[]]
    for i, v in enumerate(points):
        if v is None:
            segments.append([])
        else:
            segments[-1].append(xy(i, v))
    lines = "".join(
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{" ".join(s)}"/>'
        for s in segments
        if len(s) > 1
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img">'
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#ccc"/>'
        f'<text x="2" y="{PAD}" font-size="10">{escape(fmt.format(hi))}</text>'
        f'<text x="2" y="{H - PAD}" font-size="10">{escape(fmt.format(lo))}</text>'
        f"{lines}</svg></figure>"
    )


def _table(rows: Sequence[dict[str, Any]], cols: Sequence[tuple[str, str]]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{escape(label)}</th>" for _, label in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r.get(k)))}</td>" for k, _ in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def render(data: dict[str, Any]) -> str:
    pts = data.get("series") or []
    charts = (
        line_chart([p.get("connections") for p in pts], "client connections", "{:.0f}")
        + line_chart(
            [None if p.get("cache_hit") is None else p["cache_hit"] * 100 for p in pts],
            "cache hit ratio (%)",
        )
        + line_chart([p.get("tps") for p in pts], "transactions per second")
        + line_chart([p.get("lock_waits") for p in pts], "sessions waiting on locks", "{:.0f}")
    )
    st = data.get("statements") or {}
    sections = [
        ("Actions (SQL)", "<pre>" + escape("\n".join(data.get("actions") or []) or "none")
         + "</pre>"),
        ("Growth of tables", _table(data.get("growth") or [], [
            ("table", "table"), ("kind", "kind"), ("bytes", "bytes"),
            ("growth_bytes", "growth (bytes)"), ("indexes_bytes", "indexes (bytes)")])),
        ("Top statements by time", _table(st.get("top") or [], [
            ("total_exec_ms", "total ms"), ("calls", "calls"), ("mean_ms", "mean ms"),
            ("query", "query")])),
        ("Statements slower than a week ago", _table(st.get("regressions") or [], [
            ("mean_ms", "mean ms"), ("previous_mean_ms", "a week ago"), ("ratio", "ratio"),
            ("query", "query")])),
        ("Vacuum debt", _table(data.get("vacuum_debt") or [], [
            ("table", "table"), ("n_dead_tup", "dead"), ("dead_ratio", "dead ratio"),
            ("trigger", "autovacuum trigger"), ("fix", "fix")])),
        ("Unused index candidates", _table(data.get("unused_indexes") or [], [
            ("index", "index"), ("index_bytes", "bytes"), ("keep_because", "keep because"),
            ("stats_reset", "stats reset (unix s)"), ("fix", "fix")])),
        ("Indexes bigger than their table", _table(data.get("bloated_indexes") or [], [
            ("index", "index"), ("index_bytes", "index bytes"), ("table_bytes", "table bytes"),
            ("fix", "fix")])),
        ("Invalid indexes", _table(data.get("invalid_indexes") or [], [
            ("index", "index"), ("fix", "fix")])),
        ("Lock waits seen", _table(data.get("lock_waits_seen") or [], [
            ("t", "time"), ("lock_waits", "waiting"), ("lock_wait_max_seconds", "longest s")])),
        ("Alert history", _table(data.get("alerts") or [], [
            ("first_seen", "first seen"), ("severity", "severity"), ("status", "status"),
            ("title", "title")])),
    ]  # fmt: skip
    body = "".join(f"<h2>{escape(t)}</h2>{html}" for t, html in sections)
    period = data.get("period") or {}
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>pgwarden health report: {escape(str(data.get('target')))}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1000px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;"
        "padding:3px 6px;text-align:left}.muted{color:#888}figure{margin:1em 0}"
        "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}</style></head><body>"
        f"<h1>Health report: {escape(str(data.get('target')))}</h1>"
        f"<p>{escape(str(period.get('from')))} to {escape(str(period.get('to')))}, "
        f"{data.get('snapshots', 0)} snapshots</p>{charts}{body}</body></html>"
    )
