"""Drift on small batches: the last batches pooled, and kept out of their own baseline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from pgwarden.quality.anomaly import BatchPoint, DetectorSettings, detectors

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]


def _summary(values: np.ndarray) -> dict:
    """The checker's field summary: five quantiles and a 10-bin histogram."""
    lo, hi = float(values.min()), float(values.max())
    width = (hi - lo) / 10 or 1.0
    bins = np.clip(np.floor((values - lo) / width), 0, 9).astype(int)
    return {"numeric": {
        "count": len(values), "quantile_levels": LEVELS,
        "quantiles": np.quantile(values, LEVELS).tolist(),
        "histogram": {"edges": [lo + i * width for i in range(11)],
                      "counts": np.bincount(bins, minlength=10).tolist()},
    }}  # fmt: skip


def _stream(rng: np.random.Generator, count: int, size: int, shifted: int = 0) -> list[BatchPoint]:
    """`count` 5-minute batches of `size` normal(50, 10) values, the last `shifted` of them
    one sd higher."""
    step = timedelta(minutes=5)
    out = []
    for i in range(count):
        shift = 10.0 if i >= count - shifted else 0.0
        values = rng.normal(50 + shift, 10, size)
        out.append(
            BatchPoint(f"b{i}", MONDAY + step * (i + 1), size, field_stats={"v": _summary(values)})
        )
    return out


def test_the_batches_tested_together_are_not_in_their_own_baseline():
    # the two batches before this one are tested with it; if they also sat in the
    # reference and its dispersion, a drift that began two batches ago would widen the
    # spread that should catch it (two shifted night batches among 72 raised the
    # location dispersion by a quarter). Moving them far must leave the baseline as it is.
    s = DetectorSettings()
    pts = _stream(np.random.default_rng(4), 300, 12)
    far = np.random.default_rng(5).normal(90, 10, 12)
    moved = pts[:-3] + [replace(p, field_stats={"v": _summary(far)}) for p in pts[-3:-1]]
    a = detectors.drift(pts[:-1], pts[-1], "v", s)
    b = detectors.drift(moved, pts[-1], "v", s)
    assert a.details["window_batches"] == b.details["window_batches"] == 3
    for key in ("location_dispersion", "dispersion", "reference_values", "reference_batches"):
        assert a.details[key] == b.details[key], key
    assert b.p_value < a.p_value  # ... while the window itself sees them


def test_a_one_sd_shift_over_three_night_batches_is_found_on_the_third():
    # 12 values a batch, a batch every 5 minutes: alone each says little, pooled over the
    # three batches since the shift the location score is about 5.5 sigma, near the
    # level of one field at 5 minutes (z 4.96). Over these 30 episodes 23 are under it,
    # against 19 when the two earlier shifted batches also sat in the reference and its
    # dispersion.
    s = DetectorSettings()
    level = s.per_test_level("drift", s.fdr * 5 / 60)
    found = 0
    for seed in range(30):
        pts = _stream(np.random.default_rng(1000 + seed), 240, 12, shifted=3)
        r = detectors.drift(pts[:-1], pts[-1], "v", s)
        assert r.details["window_batches"] == 3
        found += r.p_value <= level and not r.gated
    assert found >= 22, found
