"""The daily report's numbers from daily-state rows, against hand-computed values."""

from datetime import UTC, date, datetime, timedelta

import pytest

from pgwarden.quality.report import build_report, render_html, trend_of

DAY = date(2026, 3, 10)


def row(source, day, **kw):
    base = {
        "source": source, "day": day, "batches": 4, "accepted": 4, "rejected": 0,
        "records": 1000, "score_sum": 3.6, "scored": 4, "score_min": 0.8,
        "processing_seconds": 0.5, "peak_records_per_second": 5000.0, "issues": 2,
        "violation_count": 30, "anomalies": 0, "alerts_opened": 0,
        "rule_failures": {}, "levels": {"EXCELLENT": 4},
    }  # fmt: skip
    base.update(kw)
    return base


def test_trend_slope_and_interval_by_hand():
    t = trend_of([(0, 0.80), (1, 0.82), (2, 0.84), (3, 0.86)], 4)
    assert t.slope == pytest.approx(0.02)
    assert t.low == pytest.approx(0.02) and t.high == pytest.approx(0.02)  # a perfect line
    assert t.label == "improving"
    noisy = trend_of([(0, 0.8), (1, 0.9), (2, 0.8), (3, 0.9), (4, 0.8)], 5)
    # slope = 0 exactly; the interval straddles it.
    assert noisy.slope == pytest.approx(0.0) and noisy.low < 0 < noisy.high
    assert noisy.label == "stable"
    assert trend_of([(0, 0.9), (1, 0.8)], 2).label == "insufficient history"


def test_report_numbers():
    rows = [
        row("a", DAY - timedelta(days=2), score_sum=3.6, scored=4),
        row("a", DAY - timedelta(days=1), score_sum=3.4, scored=4,
            rule_failures={"range": 10, "required": 5}),
        row("a", DAY, batches=5, records=1200, score_sum=4.0, scored=5, processing_seconds=1.0,
            peak_records_per_second=7000.0, anomalies=2, alerts_opened=1,
            rule_failures={"range": 4, "required": 9, "type": 1}),
        row("b", DAY, batches=2, records=100, score_sum=1.2, scored=2, score_min=0.5),
    ]  # fmt: skip
    at = datetime(2026, 3, 10, 4, tzinfo=UTC)
    anomalies = [{"source": "a", "metric": "volume", "field": None, "observed": 5000.0,
                  "expected": 1000.0, "score": 0.9999, "received_at": at}]  # fmt: skip
    r = build_report(DAY, rows, anomalies, trend_days=7)
    a = next(s for s in r.sources if s.source == "a")
    assert a.total_batches == 5 and a.total_records == 1200
    assert a.average_quality_score == pytest.approx(0.8)
    assert a.average_processing_time == pytest.approx(0.2)
    assert a.peak_records_per_second == 7000.0
    assert [(x.rule, x.failures, x.previous, x.change) for x in a.top_rules] == [
        ("required", 9, 5, 4), ("range", 4, 10, -6), ("type", 1, 0, 1),
    ]  # fmt: skip
    # daily averages 0.9, 0.85, 0.8 -> slope -0.05 per day, a perfect line: degrading
    assert a.trend.slope == pytest.approx(-0.05) and a.trend.label == "degrading"
    assert a.data_quality_trend == "degrading" and a.trend.per == "day"
    b = next(s for s in r.sources if s.source == "b")
    assert b.average_quality_score == pytest.approx(0.6)
    assert b.data_quality_trend == "insufficient history"
    assert r.total_batches == 7 and r.total_records == 1300
    assert r.average_quality_score == pytest.approx((4.0 + 1.2) / 7)
    assert r.total_anomalies == 2 and r.total_alerts == 1
    assert [s.source for s in r.sources] == ["a", "b"]  # by average score, best first
    assert any("degrading" in x for x in r.recommendations)
    assert any("below 0.7" in x for x in r.recommendations)
    d = r.to_dict()
    assert d["day"] == "2026-03-10" and d["sources"][0]["history"][0]["day"] == "2026-03-08"
    page = render_html(r)
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    assert "<script" not in page


def test_json_keeps_the_seed_names():
    d = build_report(DAY, [row("a", DAY)], []).to_dict()
    for key in ("date", "total_batches", "total_records", "average_quality_score",
                "total_alerts", "sources", "recommendations"):  # fmt: skip
        assert key in d, key
    assert d["date"] == "2026-03-10"
    for key in ("source", "total_batches", "total_records", "average_quality_score",
                "total_anomalies", "total_quality_issues", "average_processing_time",
                "peak_records_per_second", "data_quality_trend"):  # fmt: skip
        assert key in d["sources"][0], key
    assert d["sources"][0]["average_quality_score"] == pytest.approx(0.9)
    assert d["sources"][0]["average_processing_time"] == pytest.approx(0.125)
    assert "data_quality_trend" in d["formulas"]


def test_a_short_history_takes_its_trend_from_within_the_day():
    # one day of history only; hourly averages fall 0.02 per hour
    intraday = {"a": [(8.0, 0.95), (9.0, 0.93), (10.0, 0.91), (11.0, 0.89)]}
    r = build_report(DAY, [row("a", DAY)], [], intraday=intraday)
    a = r.sources[0]
    assert a.trend.per == "hour" and a.trend.slope == pytest.approx(-0.02)
    assert a.data_quality_trend == "degrading"
    assert any("per hour within the day" in x for x in a.recommendations)
    # with three days of scores the days decide, and the within-day points are ignored
    rows = [row("a", DAY - timedelta(days=k)) for k in range(3)]
    assert build_report(DAY, rows, [], intraday=intraday).sources[0].trend.per == "day"
    # two points within the day are not a trend either
    two = build_report(DAY, [row("a", DAY)], [], intraday={"a": [(1.0, 0.9), (2.0, 0.8)]})
    assert two.sources[0].data_quality_trend == "insufficient history"
