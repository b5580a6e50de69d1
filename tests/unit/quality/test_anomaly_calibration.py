"""Calibration under the null: the detectors' tail probabilities on pure noise.

A p-value is only a score if, with nothing wrong, P(p <= t) is about t. These
tests check the two places where that failed before: the volume baseline's
overdispersion (a MAD spread left it too small) and the outlier share, whose
histogram-smeared counts are far more variable than a binomial.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.quality.anomaly import BatchPoint, DetectorSettings, detectors, seasonal
from pgwarden.quality.anomaly.stats import binom_sf

START = datetime(2026, 1, 5, tzinfo=UTC)


def nb_count(rng: random.Random, mu: float, size: float) -> int:
    lam = rng.gammavariate(size, mu / size)
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def test_dispersion_recovers_the_true_overdispersion():
    rng = random.Random(11)
    mu, size = 3600.0, 2000.0  # variance = mu + mu^2 / size, two thirds of it overdispersion
    estimates = []
    for _ in range(3):
        values = [float(nb_count(rng, mu, size)) for _ in range(1500)]
        estimates.append(seasonal._dispersion(values, [mu] * len(values)))
    assert sum(estimates) / len(estimates) == pytest.approx(1 / size, rel=0.12)


def test_volume_p_values_are_uniform_on_seasonal_noise():
    rng = random.Random(5)
    pts = []
    for i in range(24 * 16):
        due = START + timedelta(hours=i)
        mu = 800 * (1 + 0.4 * math.sin(2 * math.pi * (due.hour - 9) / 24))
        pts.append(BatchPoint(f"b{i}", due + timedelta(seconds=90), nb_count(rng, mu, 400)))
    s = DetectorSettings()
    ps = sorted(
        detectors.volume(pts[:i], pts[i], UTC, s).p_value for i in range(len(pts) - 72, len(pts))
    )
    n = len(ps)
    ks = max(max((j + 1) / n - p, p - j / n) for j, p in enumerate(ps))
    # 72 draws: the 1 % critical value of the one-sample KS statistic is ~0.19.
    assert ks < 0.19, ps
    assert ps[0] > 1e-4  # nothing near the volume test's own level (~5e-4)


def _hist(values: list[float]) -> dict:
    lo, hi = min(values), max(values)
    width = (hi - lo) / 10
    counts = [0] * 10
    for v in values:
        counts[min(9, int((v - lo) / width))] += 1
    edges = [lo + i * width for i in range(11)]
    return {"numeric": {"histogram": {"edges": edges, "counts": counts}}}


def test_outlier_share_takes_its_dispersion_from_the_reference():
    # Every tenth batch routinely carries ten values from a five-times wider
    # spread: the count outside the reference range is overdispersed, and a
    # plain binomial on the merged share flags those ordinary batches (it did).
    rng = random.Random(2)

    def values(i: int) -> list[float]:
        v = [rng.gauss(0, 1) for _ in range(200)]
        if i % 10 == 3:
            v[:10] = [rng.gauss(0, 5) for _ in range(10)]
        return v

    pts = [
        BatchPoint(
            f"b{i}", START + timedelta(hours=i), 200, field_stats={"value": _hist(values(i))}
        )  # fmt: skip
        for i in range(120)
    ]
    s = DetectorSettings()
    level = s.per_test_level("outliers")
    results = [detectors.outliers(pts[:i], pts[i], "value", s) for i in range(60, 120)]
    assert min(r.details["dispersion"] for r in results) > 3.0
    assert not [r for r in results if r.p_value <= level and not r.gated]
    naive = [
        r for r in results
        if binom_sf(r.details["outside"], 200, r.expected) <= level and not r.gated
    ]  # fmt: skip
    assert naive  # the old test would have alerted here
    # A real outlier problem still shows: a quarter of the values at the sentinel.
    bad = [-999.0] * 50 + [rng.gauss(0, 1) for _ in range(150)]
    batch = BatchPoint("x", START + timedelta(hours=121), 200, field_stats={"value": _hist(bad)})
    hit = detectors.outliers(pts, batch, "value", s)
    assert hit.p_value <= level and not hit.gated
