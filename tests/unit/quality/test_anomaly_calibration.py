"""Calibration under the null: the detectors' tail probabilities on pure noise.

A p-value is only a score if, with nothing wrong, P(p <= t) is about t. These
tests check the places where that failed before: the volume baseline's
overdispersion, the outlier count on fields whose batches vary in spread, and
drift on a heavy-tailed (lognormal) field, where equal-width bins fired on
three batches in four.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pgwarden.quality.anomaly import BatchPoint, DetectorSettings, detectors, seasonal

START = datetime(2026, 1, 5, tzinfo=UTC)


def nb_count(rng: random.Random, mu: float, size: float) -> int:
    lam = rng.gammavariate(size, mu / size)
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def test_dispersion_recovers_the_true_overdispersion():
    rng = random.Random(11)
    mu, size = 3600.0, 2000.0  # variance = mu + mu^2 / size, two thirds of it overdispersion
    estimates = []
    for _ in range(3):
        values = np.array([float(nb_count(rng, mu, size)) for _ in range(1500)])
        estimates.append(seasonal.dispersion(values, np.full(len(values), mu)))
    assert sum(estimates) / len(estimates) == pytest.approx(1 / size, rel=0.12)


def test_volume_p_values_are_uniform_on_seasonal_noise():
    rng = random.Random(5)
    pts = []
    for i in range(24 * 33):
        due = START + timedelta(hours=i)
        mu = 800 * (1 + 0.4 * math.sin(2 * math.pi * (due.hour - 9) / 24))
        pts.append(BatchPoint(f"b{i}", due + timedelta(seconds=90), nb_count(rng, mu, 400)))
    s = DetectorSettings()
    ps = sorted(
        detectors.volume(pts[:i], pts[i], UTC, s).p_value for i in range(len(pts) - 120, len(pts))
    )
    n = len(ps)
    ks = max(max((j + 1) / n - p, p - j / n) for j, p in enumerate(ps))
    # 120 draws: the 1 % critical value of the one-sample KS statistic is ~0.149.
    assert ks < 0.149, ps
    assert ps[0] > 1e-4  # nothing near the volume test's own level


def _summary(values: list[float]) -> dict:
    v = np.array(values)
    lo, hi = float(v.min()), float(v.max())
    width = (hi - lo) / 10
    counts = np.bincount(np.clip(((v - lo) / width).astype(int), 0, 9), minlength=10)
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    return {"numeric": {"histogram": {"edges": [lo + i * width for i in range(11)],
                                      "counts": counts.tolist()},
                        "quantile_levels": levels,
                        "quantiles": np.quantile(v, levels).tolist()}}  # fmt: skip


def _points(make, count: int) -> list[BatchPoint]:
    return [
        BatchPoint(f"b{i}", START + timedelta(hours=i), 200, field_stats={"value": make(i)})
        for i in range(count)
    ]


def test_outliers_stay_quiet_when_batches_vary_in_spread_and_catch_sentinels():
    # Every tenth batch routinely carries ten values from a five-times wider spread.
    rng = random.Random(2)

    def make(i: int) -> dict:
        v = [rng.gauss(0, 1) for _ in range(200)]
        if i % 10 == 3:
            v[:10] = [rng.gauss(0, 5) for _ in range(10)]
        return _summary(v)

    pts = _points(make, 120)
    s = DetectorSettings()
    level = s.per_test_level("outliers")
    results = [detectors.outliers(pts[:i], pts[i], "value", s) for i in range(60, 120)]
    assert not [r for r in results if r.p_value <= level and not r.gated]
    # A real outlier problem still shows: a quarter of the values at the sentinel.
    bad = [-999.0] * 50 + [rng.gauss(0, 1) for _ in range(150)]
    batch = BatchPoint("x", START + timedelta(hours=121), 200, field_stats={"value": _summary(bad)})
    hit = detectors.outliers(pts, batch, "value", s)
    assert hit.details["outside"] >= 50 and hit.p_value <= level and not hit.gated


def test_drift_is_calibrated_on_a_lognormal_field():
    gen = np.random.default_rng(4)
    pts = _points(lambda i: _summary(gen.lognormal(0, 1, 200).tolist()), 200)
    s = DetectorSettings()
    ps = sorted(detectors.drift(pts[:i], pts[i], "value", s).p_value for i in range(80, 200))
    # Never anti-conservative (the dispersion is floored at 1, so the body of the
    # distribution leans toward 1); nothing near the test's own level.
    assert sum(p <= 0.1 for p in ps) / len(ps) <= 0.2, ps[:10]
    assert ps[0] > 1e-4
    # one standard deviation of shift is found on a batch of 30 values
    moved = BatchPoint("m", START + timedelta(hours=201), 30, field_stats={
        "value": _summary((gen.lognormal(0, 1, 30) + 2.16).tolist())})  # fmt: skip
    r = detectors.drift(pts, moved, "value", s)
    assert r.p_value < s.per_test_level("drift") and not r.gated
