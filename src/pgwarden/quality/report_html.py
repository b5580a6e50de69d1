"""A self-contained HTML page for a daily report: inline CSS and SVG, no script, no CDN.

Charts: the daily average score per source over the trend window (lines),
anomalies per source per day (bars), and today's failing records per rule
(horizontal bars). Every text goes through `html.escape`.
"""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
W, H, PAD = 640, 220, 36


def _svg(body: str, height: int = H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}" role="img">{body}</svg>'
    )


def score_chart(report: dict[str, Any]) -> str:
    days = sorted({h["day"] for s in report["sources"] for h in s["history"]})
    if not days:
        return "<p>no history</p>"
    xs = {d: PAD + i * (W - 2 * PAD) / max(1, len(days) - 1) for i, d in enumerate(days)}

    def y(v: float) -> float:
        return H - PAD - v * (H - 2 * PAD)

    parts = [
        f'<line x1="{PAD}" y1="{y(t):.1f}" x2="{W - PAD}" y2="{y(t):.1f}" stroke="#ddd"/>'
        f'<text x="4" y="{y(t) + 4:.1f}" font-size="10">{t:.1f}</text>'
        for t in (0.0, 0.5, 0.7, 0.9, 1.0)
    ]
    for i, s in enumerate(report["sources"]):
        color = PALETTE[i % len(PALETTE)]
        pts = [(xs[h["day"]], y(h["average_score"])) for h in s["history"]
               if h["average_score"] is not None]  # fmt: skip
        if pts:
            path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="3" fill="{color}"/>' for x, yy in pts
            )
        parts.append(f'<text x="{PAD + 120 * i}" y="14" font-size="11" fill="{color}">'
                     f"{escape(s['source'])}</text>")  # fmt: skip
    parts.append(f'<text x="{PAD}" y="{H - 8}" font-size="10">{escape(days[0])}</text>')
    parts.append(f'<text x="{W - PAD - 60}" y="{H - 8}" font-size="10">{escape(days[-1])}</text>')
    return _svg("".join(parts))


def anomaly_chart(report: dict[str, Any]) -> str:
    days = sorted({h["day"] for s in report["sources"] for h in s["history"]})
    if not days:
        return "<p>no history</p>"
    n_src = max(1, len(report["sources"]))
    top = max([1] + [h["anomalies"] for s in report["sources"] for h in s["history"]])
    slot = (W - 2 * PAD) / len(days)
    bar = max(1.0, slot / (n_src + 1))
    parts = []
    for i, s in enumerate(report["sources"]):
        color = PALETTE[i % len(PALETTE)]
        for h in s["history"]:
            x = PAD + days.index(h["day"]) * slot + i * bar
            height = (H - 2 * PAD) * h["anomalies"] / top
            parts.append(
                f'<rect x="{x:.1f}" y="{H - PAD - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{color}"><title>{escape(s["source"])} '
                f"{escape(h['day'])}: {h['anomalies']}</title></rect>"
            )
        parts.append(f'<text x="{PAD + 120 * i}" y="14" font-size="11" fill="{color}">'
                     f"{escape(s['source'])}</text>")  # fmt: skip
    parts.append(f'<text x="4" y="{PAD}" font-size="10">{top}</text>')
    return _svg("".join(parts))


def rules_chart(report: dict[str, Any]) -> str:
    rows = [
        (s["source"], r["rule"], r["failures"]) for s in report["sources"] for r in s["top_rules"]
    ]
    if not rows:
        return "<p>no failing rules</p>"
    top = max(1, max(r[2] for r in rows))
    height = PAD + 18 * len(rows)
    parts = []
    for i, (src, rule, n) in enumerate(rows):
        width = (W - 260) * n / top
        yy = 10 + 18 * i
        parts.append(
            f'<text x="4" y="{yy + 11}" font-size="11">{escape(src)}: {escape(rule)}</text>'
            f'<rect x="220" y="{yy}" width="{width:.1f}" height="13" fill="#d62728"/>'
            f'<text x="{224 + width:.1f}" y="{yy + 11}" font-size="11">{n}</text>'
        )
    return _svg("".join(parts), height)


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else escape(str(v))


def _trend_text(t: dict[str, Any]) -> str:
    if t["slope"] is None:
        return ""
    per = t.get("per", "day")
    within = " within the day" if per == "hour" else ""
    return f" ({t['slope']:+.4f}/{per}{within}, 95% CI {t['low']:+.4f}..{t['high']:+.4f})"


def _field(a: dict[str, Any]) -> str:
    return ":" + escape(a["field"]) if a.get("field") else ""


def render_html(report: Any) -> str:
    """The page for a DailyReport (or its `to_dict()`)."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    rows = "".join(
        "<tr>"
        f"<td>{escape(s['source'])}</td><td>{_num(s['total_batches'])}</td>"
        f"<td>{_num(s['total_records'])}</td>"
        f"<td>{_num(s['average_quality_score'])}</td><td>{_num(s['total_anomalies'])}</td>"
        f"<td>{_num(s['total_quality_issues'])}</td>"
        f"<td>{_num(s['average_processing_time'], 4)}</td>"
        f"<td>{_num(s['peak_records_per_second'], 0)}</td>"
        f"<td>{escape(s['trend']['label'])}"
        + _trend_text(s["trend"])
        + "</td></tr>"
        for s in data["sources"]
    )  # fmt: skip
    anomalies = "".join(
        f"<tr><td>{escape(str(a.get('received_at')))}</td><td>{escape(str(a.get('source')))}</td>"
        f"<td>{escape(str(a.get('metric')))}{_field(a)}</td>"
        f"<td>{_num(a.get('observed'))}</td><td>{_num(a.get('expected'))}</td>"
        f"<td>{_num(a.get('score'), 4)}</td></tr>"
        for a in data["anomalies"]
    )  # fmt: skip
    recs = "".join(f"<li>{escape(r)}</li>" for r in data["recommendations"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>pgwarden quality report {escape(data["day"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
h2 {{ margin-top: 1.5em; }}
</style></head><body>
<h1>Quality report {escape(data["day"])} ({escape(data["timezone"])})</h1>
<p>{_num(data["total_batches"])} batches, {_num(data["total_records"])} records, average score
{_num(data["average_quality_score"])}, {_num(data["total_anomalies"])} anomalies,
{_num(data["total_quality_issues"])} issues, {_num(data["total_alerts"])} alerts opened.</p>
<table><tr><th>source</th><th>batches</th><th>records</th><th>avg score</th><th>anomalies</th>
<th>issues</th><th>avg seconds</th><th>peak rec/s</th><th>trend</th></tr>{rows}</table>
<h2>Score per source</h2>{score_chart(data)}
<h2>Anomalies per day</h2>{anomaly_chart(data)}
<h2>Failing rules today</h2>{rules_chart(data)}
<h2>Anomalies</h2>
<table><tr><th>received</th><th>source</th><th>metric</th><th>observed</th><th>expected</th>
<th>score</th></tr>{anomalies}</table>
<h2>Recommendations</h2><ul>{recs}</ul>
</body></html>
"""
