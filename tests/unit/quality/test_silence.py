"""The silent-source decision: learned cadence, floor, quantile (pure, clock passed in)."""

from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.quality.silence import MIN_GAPS, SilenceSettings, allowed_gap, judge, quantile

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def test_quantile_interpolates_like_numpy():
    assert quantile([1, 2, 3, 4], 0.5) == pytest.approx(2.5)
    assert quantile([10.0] * 5 + [100.0], 1.0) == 100.0
    assert quantile(list(range(101)), 0.99) == pytest.approx(99.0)


def test_no_cadence_before_enough_gaps():
    s = SilenceSettings()
    assert allowed_gap([60.0] * (MIN_GAPS - 1), s) is None
    v = judge("a", NOW - timedelta(days=2), [60.0] * (MIN_GAPS - 1), NOW, s)
    assert not v.silent  # never called silent without a learned cadence


def test_allowed_gap_is_the_quantile_with_headroom_or_the_floor():
    s = SilenceSettings(floor_seconds=300, quantile=0.99, factor=1.5)
    hourly = [3600.0] * 50
    assert allowed_gap(hourly, s) == pytest.approx(5400.0)  # 1.5 x 1 h
    every_10s = [10.0] * 50
    assert allowed_gap(every_10s, s) == 300.0  # the floor
    v = judge("a", NOW - timedelta(minutes=89), hourly, NOW, s)
    assert not v.silent and v.typical_seconds == 3600.0
    v = judge("a", NOW - timedelta(minutes=91), hourly, NOW, s)
    assert v.silent and v.silent_seconds == pytest.approx(91 * 60)
