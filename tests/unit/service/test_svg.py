from datetime import UTC, datetime, timedelta

from pgwarden.service.dashboard import svg


def test_line_chart_draws_one_polyline_per_series_and_escapes_names():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    chart = svg.line_chart(
        {"a<b": [(t0, 0.5), (t0 + timedelta(minutes=1), 0.9)], "c": [(t0, 0.1), (t0, 0.2)]},
        y_min=0,
        y_max=1,
        title="quality",
    )
    assert chart.startswith("<svg") and chart.endswith("</svg>")
    assert chart.count("<polyline") == 2
    assert "a&lt;b" in chart and "a<b" not in chart


def test_empty_charts_say_so():
    assert "no data yet" in svg.line_chart({})
    assert "no data yet" in svg.bar_chart([])


def test_bar_heights_are_proportional():
    chart = svg.bar_chart([("x", 1.0), ("y", 2.0)], height=240)
    import re

    heights = [
        float(h)
        for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', chart)
    ]
    assert len(heights) == 2 and abs(heights[1] - 2 * heights[0]) < 0.2


def test_sparkline_needs_two_points():
    assert "polyline" not in svg.sparkline([1.0])
    assert "polyline" in svg.sparkline([1.0, 2.0, 1.5])


def test_hbar_chart_has_a_row_per_bar_and_grows_with_them():
    few = svg.hbar_chart([("a.table", 10.0)], unit=" d")
    many = svg.hbar_chart([(f"t{i}", float(i)) for i in range(10)])
    assert few.count("<rect") == 1 and "10 d" in few
    assert many.count("<rect") == 10
    height = lambda chart: int(chart.split('viewBox="0 0 1000 ')[1].split('"')[0])  # noqa: E731
    assert height(many) > height(few)
