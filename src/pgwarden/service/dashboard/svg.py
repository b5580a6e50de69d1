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

    `x_min`/`x_max` bound the axis to a window; when the data covers less
    than the window (a short run), the axis starts where the data starts,
    so a few minutes of data fill the chart instead of its right edge.
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
    x0 = min(xs) if x_min is None else max(_x_value(x_min), min(xs))
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
        # minutes repeat on a short axis: show seconds below ten minutes
        stamp = "%H:%M:%S" if x1 - x0 < 600 else "%H:%M"
        for i, t in enumerate(ticks):
            label = datetime.fromtimestamp(t, UTC).strftime(stamp)
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


def _open(width: int, height: int, title: str, kind: str = "") -> str:
    # Drawn at its own width (shrunk by CSS on a narrow screen, never
    # stretched), so text is the same size in every chart of every card.
    head = (
        f'<svg class="chart{" " + kind if kind else ""}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label="{escape(title)}">'
    )
    if title:
        head += f'<text x="8" y="16" class="title">{escape(title)}</text>'
    return head


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" class="empty" text-anchor="middle">'
        "no data yet</text>"
    )


STATE_COLOURS = {"runs": "#16a34a", "blocked": "#b91c1c", "disabled": "#6b7280", "idle": "#ca8a04"}


def dag_chart(
    nodes: Sequence[tuple[str, int | None, str, str]],
    edges: Sequence[tuple[str, str, str]],
    *,
    title: str = "",
) -> str:
    """A dependency graph, data flowing left to right.

    `nodes` are (id, level, detail line, state): one column per level, the
    models that do not run (level None) in a last column; `edges` are
    (upstream, downstream, label). Boxes are as wide as the longest id: ids
    are never cut.
    """
    col_gap, row_h, box_h, pad = 120, 64, 44, 12
    top = 28 if title else 8
    longest = max([len(n[0]) for n in nodes] + [len(n[2]) for n in nodes] + [8])
    box_w = 7.2 * longest + 20
    levels = sorted({n[1] for n in nodes if n[1] is not None})
    column = {lvl: i for i, lvl in enumerate(levels)}
    rows: dict[int, int] = {}
    where: dict[str, tuple[float, float]] = {}
    for node_id, level, _, _ in nodes:
        col = column[level] if level is not None else len(levels)
        row = rows.get(col, 0)
        rows[col] = row + 1
        where[node_id] = (pad + col * (box_w + col_gap), top + row * row_h)
    cols = max(rows) + 1 if rows else 1
    width = int(2 * pad + cols * box_w + (cols - 1) * col_gap)
    height = int(top + max(rows.values(), default=1) * row_h + 4)
    out = [
        _open(width, height, title, "dag"),
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#6b7280"/></marker></defs>',
    ]
    if not nodes:
        out.append(_empty(width, height))
        out.append("</svg>")
        return "".join(out)
    shown = [e for e in edges if e[0] in where and e[1] in where]
    # ports spread along a box's side, so edges into one model do not meet in one point
    outs = {n: [e for e in shown if e[0] == n] for n in where}
    ins = {n: [e for e in shown if e[1] == n] for n in where}
    for edge in shown:
        up, down, label = edge
        (ux, uy), (dx, dy) = where[up], where[down]
        i, k = outs[up].index(edge), len(outs[up])
        j, m = ins[down].index(edge), len(ins[down])
        x1, y1 = ux + box_w, uy + box_h * (i + 1) / (k + 1)
        x2, y2 = dx, dy + box_h * (j + 1) / (m + 1)
        bend = max(30.0, (x2 - x1) / 2)
        out.append(
            f'<path d="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, '
            f'{x2:.1f} {y2:.1f}" fill="none" stroke="#9ca3af" stroke-width="1.5" '
            f'marker-end="url(#arrow)"><title>{escape(down)} reads {escape(up)} as '
            f"{escape(label)}</title></path>"
            f'<text x="{x1 + 8:.1f}" y="{y1 - 5:.1f}" class="tick">{escape(label)}</text>'
        )
    for node_id, _, detail, state in nodes:
        x, y = where[node_id]
        colour = STATE_COLOURS.get(state, "#6b7280")
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.1f}" height="{box_h}" rx="6" '
            f'fill="#fff" stroke="{colour}" stroke-width="2"><title>{escape(node_id)}: '
            f"{escape(state)}</title></rect>"
            f'<text x="{x + 10:.1f}" y="{y + 18:.1f}" class="node">{escape(node_id)}</text>'
            f'<text x="{x + 10:.1f}" y="{y + 35:.1f}" class="tick">{escape(detail)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
