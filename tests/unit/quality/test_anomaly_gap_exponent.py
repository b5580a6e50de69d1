"""Counts flushed on a jittered timer: the count grows with the time since the previous
batch, and the fitted exponent is the true one, not its linearisation (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pgwarden.quality.anomaly import seasonal


def test_the_gap_exponent_of_counts_proportional_to_the_gap_is_one():
    # Each batch is received up to 30 % of a cadence early or late, and carries the
    # records of the time since the previous one (mean 200 per 5 minutes). The slope
    # of x / mu - 1 on log(gap) alone reads about 0.9 here.
    rng = np.random.default_rng(11)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    due = np.arange(1, 21 * 288 + 2) * 300.0 + start.timestamp()
    times = due + rng.uniform(-90.0, 90.0, len(due))
    gaps = np.diff(times, prepend=times[0] - 300.0)
    counts = rng.poisson(rng.gamma(50.0, 200.0 * gaps / 300.0 / 50.0)).astype(float)
    usable = np.ones(len(times) - 1, dtype=bool)
    fit = seasonal.fit_volume(times[:-1], counts[:-1], usable, times[-1], UTC, min_points=24)
    assert fit is not None
    assert fit.beta == pytest.approx(1.0, abs=0.04)
    # the next batch's expected count follows its own gap
    assert fit.expected == pytest.approx(200.0 * gaps[-1] / 300.0, rel=0.03)
