"""The daily shape of the volume baseline: a slot pools its neighbours where the day is
straight, and keeps its own value at a bend (issue 17, 5-sigma spikes)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from pgwarden.quality.anomaly import seasonal

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
CADENCE = 15  # minutes


def business(h: float) -> float:
    return 0.04 + 0.96 / (1 + math.exp(-(h - 8.5) * 3)) / (1 + math.exp((h - 18) * 2))


def series(seed: int, rate, days: int, k: float = 50.0):
    """(times, counts, means): negative-binomial counts of mean `rate(t)` per 15-minute
    batch (t: the middle of the interval the batch covers), received 10 s after it."""
    rng = np.random.default_rng(seed)
    step = timedelta(minutes=CADENCE)
    due = [MONDAY + step * (i + 1) for i in range(days * 24 * 60 // CADENCE)]
    mu = np.array([rate(t - step / 2) for t in due])
    counts = rng.poisson(rng.gamma(k, mu / k)).astype(float)
    return np.array([t.timestamp() + 10.0 for t in due]), counts, mu


def fit_at(times, counts, i: int) -> seasonal.VolumeFit:
    """The fit for batch `i` on the batches before it."""
    usable = np.ones(i, dtype=bool)
    fit = seasonal.fit_volume(times[:i], counts[:i], usable, times[i], UTC, min_points=24)
    assert fit is not None
    return fit


def test_a_flat_day_reads_a_slot_on_its_neighbours():
    # A flat source at 500 records a batch, 80 % of that at weekends; the batch tested
    # is a Monday's first. Read on its own slot (20 weekdays) the expected count errs
    # by sqrt(unit / 20) (unit: the null's relative variance, 1/mu + alpha); pooled
    # over a flat stretch it errs far less, and the fit says so.
    def rate(t: datetime) -> float:
        return 500.0 * (0.8 if t.weekday() >= 5 else 1.0)

    errors, claimed = [], []
    i = 28 * 96
    for seed in range(16):
        times, counts, mu = series(seed, rate, 29, k=20.0)
        fit = fit_at(times, counts, i)
        errors.append((fit.expected / mu[i] - 1.0) ** 2)
        claimed.append(fit.relative_error - fit.shared_error)
    unit = 1 / 500 + 1 / 20
    assert float(np.mean(errors)) < unit / 24
    assert float(np.median(claimed)) < unit / 60


def test_a_business_hours_edge_keeps_its_own_slots():
    # The morning edge (rate x20 within two hours): a window across the bend would bias
    # the expected count of the slots there; Lepski's rule stops before it. The mean
    # error over 10 streams stays under a third of the null's own sd at each slot.
    def rate(t: datetime) -> float:
        return 1000.0 * business(t.hour + t.minute / 60) * (0.3 if t.weekday() >= 5 else 1)

    streams = [series(100 + seed, rate, 29) for seed in range(10)]
    worst = 0.0
    for minute in range(6 * 60, 11 * 60, 30):
        i = (28 * 1440 + minute) // CADENCE  # Monday of week 5, `minute` past midnight
        bias = []
        for times, counts, mu in streams:
            fit = fit_at(times, counts, i)
            bias.append((fit.expected - mu[i]) / math.sqrt(mu[i] + mu[i] ** 2 / 50))
        worst = max(worst, abs(float(np.mean(bias))))
    assert worst < 1 / 3


def test_the_widening_stops_at_a_step():
    # Noiseless ratios: a flat row pools the widest window; on a step the slots next to
    # it keep their own value (their window would mix the two levels).
    per_day = 96
    sb = np.full((2, per_day), 2000.0)
    level = np.ones((2, per_day))
    level[1, 48:] = 2.0
    sx = sb * level
    sq = np.full((2, per_day), 20 * 100.0**2)
    sn = np.full((2, per_day), 20.0)
    shape = sx / sb
    got, eff = seasonal._smoothed(
        sx, sb, sq, sn, shape, sn.copy(), np.ones((2, per_day), bool), 0.02
    )
    widest = 2 * seasonal.SMOOTH_HALF_WIDTHS[-1] + 1
    assert np.allclose(got, level)
    assert (eff[0] == 20.0 * widest).all()
    assert eff[1, 47] == 20.0 and eff[1, 48] == 20.0
    assert eff[1, 20] == 20.0 * widest
