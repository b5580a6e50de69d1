"""Charts as inline SVG, rendered on the server: no JavaScript, no CDN.

Pure functions of their data; every text is escaped. Colours come from a
small fixed palette so a series keeps its colour across pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
SEVERITY_COLOURS = {
    "critical": "#b91c1c",
    "high": "#ea580c",
    "medium": "#ca8a04",
    "low": "#2563eb",
}

Point = tuple[float, float]


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / n
    return [lo + i * step for i in range(n + 1)]


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    if abs(v) >= 10 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.2f}"


def _x_value(x: float | datetime) -> float:
    return x.timestamp() if isinstance(x, datetime) else float(x)


def line_chart(
    series: dict[str, Sequence[tuple[float | datetime, float]]],
    *,
    width: int = 640,
    height: int = 220,
    y_min: float | None = None,
    y_max: float | None = None,
    title: str = "",
    unit: str = "",
    x_min: float | datetime | None = None,
    x_max: float | datetime | None = None,
) -> str:
    """Lines over a shared x axis (numbers or datetimes), with a legend.

    Give `x_min`/`x_max` to fix the axis to a window (a line then starts
    where its data starts, not at the left edge).
    """
    pad_l, pad_r, pad_t, pad_b = 44, 12, 24 if title else 10, 50
    pts = {
        name: [(_x_value(x), float(y)) for x, y in data if y is not None]
        for name, data in series.items()
    }
    xs = [x for data in pts.values() for x, _ in data]
    ys = [y for data in pts.values() for _, y in data]
    out = [_open(width, height, title)]
    if not xs:
        out.append(_empty(width, height))
        out.append("</svg>")
        return "".join(out)
    x0 = min(xs) if x_min is None else _x_value(x_min)
    x1 = max(xs) if x_max is None else _x_value(x_max)
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi == lo:
        hi = lo + 1
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (0 if x1 == x0 else (x - x0) / (x1 - x0) * plot_w)

    def sy(y: float) -> float:
        return pad_t + plot_h - (y - lo) / (hi - lo) * plot_h

    for t in _ticks(lo, hi):
        y = sy(t)
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(_fmt(t) + unit)}</text>"
        )
    is_time = any(isinstance(x, datetime) for data in series.values() for x, _ in data)
    if is_time and x1 > x0:
        ticks = _ticks(x0, x1, 4)
        for i, t in enumerate(ticks):
            label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
            anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
            out.append(
                f'<text x="{sx(t):.1f}" y="{pad_t + plot_h + 14:.1f}" class="tick" '
                f'text-anchor="{anchor}">{label}</text>'
            )
    for i, (name, data) in enumerate(pts.items()):
        colour = PALETTE[i % len(PALETTE)]
        if len(data) == 1:
            x, y = data[0]
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        elif data:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(data))
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
                f"<title>{escape(name)}</title></polyline>"
            )
        lx = pad_l + (i % 4) * (plot_w // 4)
        ly = height - 8 - (i // 4) * 14
        out.append(
            f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly + 1}" class="legend">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    width: int = 640,
    height: int = 220,
    title: str = "",
    colours: dict[str, str] | None = None,
    unit: str = "",
) -> str:
    """Vertical bars with labels under them."""
    pad_l, pad_r, pad_t, pad_b = 44, 12, 24 if title else 10, 40
    out = [_open(width, height, title)]
    if not bars:
        out.append(_empty(width, height))
        out.append("</svg>")
        return "".join(out)
    hi = max(max(v for _, v in bars), 1e-9)
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    slot = plot_w / len(bars)
    for t in _ticks(0, hi):
        y = pad_t + plot_h - t / hi * plot_h
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(_fmt(t) + unit)}</text>"
        )
    for i, (label, value) in enumerate(bars):
        h = value / hi * plot_h
        x = pad_l + i * slot + slot * 0.15
        colour = (colours or {}).get(label, PALETTE[i % len(PALETTE)])
        out.append(
            f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{colour}" rx="2"><title>{escape(label)}: '
            f"{escape(_fmt(value))}</title></rect>"
            f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b + 14}" class="tick" '
            f'text-anchor="middle">{escape(label[:14])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def hbar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    width: int = 1000,
    title: str = "",
    unit: str = "",
    label_width: int = 260,
) -> str:
    """Horizontal bars, one row each: for long labels such as table names."""
    row, pad_t = 22, 26 if title else 8
    height = pad_t + row * max(1, len(bars)) + 8
    out = [_open(width, height, title)]
    if not bars:
        out.append(_empty(width, height))
        out.append("</svg>")
        return "".join(out)
    hi = max(max(v for _, v in bars), 1e-9)
    plot_w = width - label_width - 70
    for i, (label, value) in enumerate(bars):
        y = pad_t + i * row
        w = max(0.0, value) / hi * plot_w
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<text x="{label_width - 8}" y="{y + 15}" class="tick" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{colour}" rx="2"><title>{escape(label)}: {escape(_fmt(value) + unit)}</title>'
            f"</rect>"
            f'<text x="{label_width + w + 6:.1f}" y="{y + 15}" class="tick">'
            f"{escape(_fmt(value) + unit)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28) -> str:
    if len(values) < 2:
        return f'<svg class="chart spark" width="{width}" height="{height}"></svg>'
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    path = " ".join(
        f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg class="chart spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><polyline points="{path}" fill="none" '
        f'stroke="{PALETTE[0]}" stroke-width="1.5"/></svg>'
    )


def _open(width: int, height: int, title: str) -> str:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}">'
    )
    if title:
        head += f'<text x="8" y="16" class="title">{escape(title)}</text>'
    return head


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" class="empty" text-anchor="middle">'
        "no data yet</text>"
    )
