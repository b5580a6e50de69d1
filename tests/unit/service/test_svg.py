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


def _xs(chart: str) -> list[float]:
    import re

    points = re.search(r'<polyline points="([^"]+)"', chart)
    assert points is not None
    return [float(p.split(",")[0]) for p in points.group(1).split()]


def test_a_short_run_fills_the_axis_instead_of_its_right_edge():
    end = datetime(2026, 1, 1, 12, tzinfo=UTC)
    start = end - timedelta(minutes=30)
    data = {"a": [(end - timedelta(minutes=2), 1.0), (end - timedelta(minutes=1), 2.0), (end, 3.0)]}
    chart = svg.line_chart(data, x_min=start, x_max=end, width=640)
    xs = _xs(chart)
    assert xs[0] == 44.0 and xs[-1] == 640 - 12  # the data spans the plot (pad 44 .. 12)
    assert "11:58:00" in chart  # seconds on a short axis
    # a full window keeps the window: the first point sits where its time falls
    long = {"a": [(start - timedelta(minutes=5), 1.0), (end, 2.0)]}
    assert _xs(svg.line_chart(long, x_min=start, x_max=end))[0] < 44.0


def test_charts_are_drawn_at_their_own_width():
    chart = svg.line_chart({"a": [(0.0, 1.0), (1.0, 2.0)]}, width=640, height=220)
    assert 'width="640" height="220"' in chart  # CSS may shrink it, never stretch its text


def test_the_dependency_graph_flows_left_to_right_with_whole_ids():
    nodes = [
        ("demo.missing", 0, "v1", "runs"),
        ("demo.spike", 0, "v1 + v2 (SHADOW)", "runs"),
        ("demo.a_model_with_a_rather_long_identifier", 1, "v1", "blocked"),
        ("demo.off", None, "no primary · disabled", "disabled"),
    ]
    edges = [
        ("demo.missing", "demo.a_model_with_a_rather_long_identifier", "missing"),
        ("demo.spike", "demo.a_model_with_a_rather_long_identifier", "spikes"),
    ]
    chart = svg.dag_chart(nodes, edges, title="graph")
    assert chart.count("<rect") == 4 and chart.count("marker-end=") == 2
    for node_id, *_ in nodes:
        assert f">{node_id}</text>" in chart
    assert 'stroke="#b91c1c"' in chart  # blocked is red
    import re

    boxes = {
        m[2]: float(m[0])
        for m in re.findall(r'<rect x="([^"]+)" y="([^"]+)".*?<title>([^:]+):', chart)
    }
    assert boxes["demo.missing"] < boxes["demo.a_model_with_a_rather_long_identifier"]
    assert boxes["demo.a_model_with_a_rather_long_identifier"] < boxes["demo.off"]
    assert "no data yet" in svg.dag_chart([], [])
