from __future__ import annotations

from datetime import date, timedelta

import pytest

from pgwarden.ops.capacity import project, theil_sen

D0 = date(2026, 1, 1)


def test_theil_sen_ignores_one_outlier_day():
    points = [(D0 + timedelta(days=i), 1000 + 10 * i) for i in range(30)]
    points[15] = (points[15][0], 10**9)  # a bulk load and its purge the next day
    assert theil_sen(points) == pytest.approx(10, abs=0.5)


def test_projection_from_a_fit():
    history = [(D0 + timedelta(days=i), 1_000_000 + 5_000 * i) for i in range(20)]
    p = project("db", 1_095_000, history, limit=2_000_000, fallback_growth=0.2, alert_days=30)
    assert p.fitted and "Theil-Sen fit over 20 days" in p.method
    assert p.growth_per_day == pytest.approx(5000)
    assert p.days_to_limit == pytest.approx(181.0)
    assert not p.alert


def test_short_history_falls_back_to_twenty_percent_a_year_and_says_so():
    history = [(D0, 100), (D0 + timedelta(days=1), 200)]
    p = project("db", 365_000, history, limit=400_000, fallback_growth=0.2, alert_days=30)
    assert not p.fitted and p.method.startswith("fallback 20%/year")
    assert "only 2 day(s) of history" in p.method
    assert p.growth_per_day == pytest.approx(200)
    assert p.days_to_limit == pytest.approx(175)


def test_alert_when_the_limit_is_near_and_unknown_limit_gives_no_days():
    history = [(D0 + timedelta(days=i), 900 + 10 * i) for i in range(10)]
    near = project("db", 990, history, limit=1100, fallback_growth=0.2, alert_days=30)
    assert near.alert and near.days_to_limit == pytest.approx(11)
    unknown = project("db", 990, history, limit=None, fallback_growth=0.2, alert_days=30)
    assert unknown.days_to_limit is None and not unknown.alert
    shrinking = [(D0 + timedelta(days=i), 1000 - i) for i in range(10)]
    flat = project("db", 990, shrinking, limit=2000, fallback_growth=0.2, alert_days=30)
    assert flat.days_to_limit is None and not flat.alert
    over = project("db", 3000, history, limit=2000, fallback_growth=0.2, alert_days=30)
    assert over.days_to_limit == 0 and over.alert
