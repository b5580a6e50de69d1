"""The six detectors, one pure function each: history + batch -> TestResult.

Every detector returns a tail probability (`p_value`) under a baseline that
never includes the batch under test and leaves out points already flagged for
the same metric. Deciding which results are anomalies is a separate step
(weighted Benjamini-Hochberg over all tests of the batch, in `engine.py`).
Detectors that need a minimum effect (drift, rates, timing) mark results
below it as `gated`, so a statistically detectable but harmless change never
alerts; this is what keeps large batches from flagging everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo

from pgwarden.quality.anomaly import histo, seasonal
from pgwarden.quality.anomaly.model import (
    DRIFT,
    FORMAT,
    MISSING,
    OUTLIERS,
    TIMING,
    VOLUME,
    BatchPoint,
    Status,
    TestResult,
    Window,
)
from pgwarden.quality.anomaly.stats import (
    binom_sf,
    chi2_sf,
    mad_sigma,
    median,
    negbin_tails,
    norm_sf,
    t_sf,
)


@dataclass(frozen=True)
class DetectorSettings:
    """Tuning of the detectors; defaults are the documented ones (see config keys)."""

    # Per batch. With every test null this is the chance of any false anomaly in
    # the batch, so 1/1440 is about one false alert per two months of hourly
    # batches: "at most one per source-month" with margin, since a month's count
    # is Poisson (at an expected 1.0, half of all months would exceed 1).
    fdr: float = 1.0 / 1440.0
    min_history: int = 24  # batches before any test runs
    harmonics: int = 4
    level_days: float = 7.0
    psi_threshold: float = 0.2  # "major shift" in the usual PSI reading
    drift_min_sample: int = 200  # values in the batch
    drift_reference_min: int = 1000  # values in the reference
    min_rate_delta: float = 0.01  # absolute excess of a rate before it may alert
    outlier_quantile: float = 0.001  # reference range = [q, 1 - q]
    weights: tuple[tuple[str, float], ...] = (
        (VOLUME, 0.8),
        (MISSING, 0.05),
        (FORMAT, 0.05),
        (TIMING, 0.05),
        (DRIFT, 0.025),
        (OUTLIERS, 0.025),
    )

    def weight(self, metric: str) -> float:
        return dict(self.weights).get(metric, 0.0)

    def per_test_level(self, metric: str) -> float:
        """The level one test meets alone (used for the expected range shown to people)."""
        total = sum(w for _, w in self.weights) or 1.0
        return self.fdr * self.weight(metric) / total


def _window(points: Sequence[BatchPoint]) -> Window:
    if not points:
        return Window(None, None, 0)
    return Window(points[0].received_at, points[-1].received_at, len(points))


def _usable(history: Sequence[BatchPoint], key: str) -> list[BatchPoint]:
    return [p for p in history if p.accepted and key not in p.flagged]


# -- volume --------------------------------------------------------------------------


def _nb_quantile(prob: float, mean: float, dispersion: float) -> float:
    lo, hi = 0.0, max(10.0, mean * 10 + 100)
    for _ in range(60):
        mid = (lo + hi) / 2
        if negbin_tails(mid, mean, dispersion)[0] < prob:
            lo = mid
        else:
            hi = mid
    return hi


def volume(
    history: Sequence[BatchPoint], current: BatchPoint, tz: tzinfo, s: DetectorSettings
) -> TestResult:
    """Record count against a seasonal negative-binomial baseline (spike or drop)."""
    pts = _usable(history, VOLUME)
    window = _window(pts)
    method = "negative binomial around a seasonal baseline (winsorised means, harmonics)"
    fit = None
    if len(pts) >= s.min_history:
        fit = seasonal.fit_expected(
            [(p.received_at, float(p.records)) for p in pts],
            current.received_at,
            tz,
            harmonics=s.harmonics,
            level_days=s.level_days,
            min_points=s.min_history,
        )
    if fit is None:
        return TestResult(
            VOLUME, None, Status.INSUFFICIENT_HISTORY, method, window,
            observed=float(current.records), weight=s.weight(VOLUME),
            details={"needs": f"two days of history and {s.min_history} batches"},
        )  # fmt: skip
    mu = max(fit.expected, 1e-9)
    variance = (mu + fit.alpha * mu * mu) * (1.0 + fit.leverage)
    dispersion = variance / mu
    x = float(current.records)
    lower, upper = negbin_tails(x, mu, dispersion)
    p = min(1.0, 2.0 * min(lower, upper))
    level = s.per_test_level(VOLUME)
    return TestResult(
        VOLUME, None, Status.TESTED, f"{method}; seasonality: {fit.seasonality}", window,
        observed=x, expected=mu,
        low=_nb_quantile(level / 2, mu, dispersion),
        high=_nb_quantile(1 - level / 2, mu, dispersion),
        direction="high" if upper < lower else "low", p_value=p,
        effect=(x - mu) / math.sqrt(variance), weight=s.weight(VOLUME),
        details={"alpha": fit.alpha, "leverage": fit.leverage, "seasonality": fit.seasonality},
    )  # fmt: skip


# -- rates -----------------------------------------------------------------------------


def _rate(
    metric: str,
    counts: Sequence[tuple[float, float]],
    x: float,
    n: float,
    window: Window,
    s: DetectorSettings,
) -> TestResult:
    method = "quasi-binomial on the batch size (dispersion from the history)"
    if len(counts) < s.min_history:
        return TestResult(
            metric, None, Status.INSUFFICIENT_HISTORY, method, window,
            observed=x / n if n else None, weight=s.weight(metric),
        )  # fmt: skip
    if n <= 0:
        return TestResult(metric, None, Status.INSUFFICIENT_SAMPLE, method, window)
    total_x = sum(c for c, _ in counts)
    total_n = sum(t for _, t in counts)
    # Jeffreys-style smoothing: a history of zero defects still has a rate above zero.
    p0 = (total_x + 0.5) / (total_n + 1.0)
    resid = [(c - t * p0) / math.sqrt(t * p0 * (1 - p0)) for c, t in counts if t > 0]
    phi = max(1.0, mad_sigma(resid) ** 2) if resid else 1.0
    phi *= 1.0 + n / max(total_n, 1.0)  # the baseline's own uncertainty
    p = binom_sf(x / phi, n / phi, p0)
    rate = x / n
    excess = rate - p0
    level = s.per_test_level(metric)
    z = -_norm_quantile(level)
    high = p0 + z * math.sqrt(phi * p0 * (1 - p0) / n)
    return TestResult(
        metric, None, Status.TESTED, method, window,
        observed=rate, expected=p0, low=0.0, high=min(1.0, high), direction="high",
        p_value=p, effect=excess, gated=excess < s.min_rate_delta, weight=s.weight(metric),
        details={"count": x, "trials": n, "dispersion": phi},
    )  # fmt: skip


def _norm_quantile(prob: float) -> float:
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 1 - norm_sf(mid) < prob:
            lo = mid
        else:
            hi = mid
    return hi


def missing_rate(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    pts = _usable(history, MISSING)
    counts = [(float(p.missing_values), float(p.records * p.fields)) for p in pts if p.records]
    n = float(current.records * current.fields)
    return _rate(MISSING, counts, float(current.missing_values), n, _window(pts), s)


def format_rate(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    pts = _usable(history, FORMAT)
    counts = [(float(p.type_mismatches), float(p.records * p.fields)) for p in pts if p.records]
    n = float(current.records * current.fields)
    return _rate(FORMAT, counts, float(current.type_mismatches), n, _window(pts), s)


# -- arrival timing -------------------------------------------------------------------------


def arrival_gap(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    """Time since the previous batch against the usual gap (late or missing batches).

    Gaps are heavy-tailed in practice, so the tail is Student t with 5 degrees
    of freedom on a median/MAD scale, and only a gap a quarter longer than the
    usual one (at least a minute) may alert.
    """
    method = "robust z of the gap to the previous batch (median/MAD, t with 5 df)"
    times = sorted(p.received_at for p in history)
    before = [t for t in times if t < current.received_at]
    window = _window([p for p in history if p.received_at < current.received_at])
    if len(before) < s.min_history + 1:
        return TestResult(TIMING, None, Status.INSUFFICIENT_HISTORY, method, window)
    flagged = {p.received_at for p in history if TIMING in p.flagged}
    gaps = [
        (b - a).total_seconds()
        for a, b in zip(before, before[1:], strict=False)
        if b not in flagged
    ]
    gap = (current.received_at - before[-1]).total_seconds()
    if len(gaps) < s.min_history:
        return TestResult(TIMING, None, Status.INSUFFICIENT_HISTORY, method, window, observed=gap)
    center = median(gaps)
    scale = max(mad_sigma(gaps, center), 0.01 * center, 1.0)
    z = (gap - center) / scale
    p = t_sf(z, 5.0)
    level = s.per_test_level(TIMING)
    lo_t, hi_t = 0.0, 1e4
    for _ in range(80):
        mid = (lo_t + hi_t) / 2
        if t_sf(mid, 5.0) > level:
            lo_t = mid
        else:
            hi_t = mid
    excess = gap - center
    return TestResult(
        TIMING, None, Status.TESTED, method, window,
        observed=gap, expected=center, low=0.0, high=center + hi_t * scale, direction="high",
        p_value=p, effect=excess, gated=excess < max(60.0, 0.25 * center),
        weight=s.weight(TIMING), details={"previous": before[-1].isoformat(), "scale": scale},
    )  # fmt: skip


# -- numeric fields: drift and outliers --------------------------------------------------------


def _reference(
    history: Sequence[BatchPoint], name: str, key: str
) -> tuple[list[histo.Histogram], list[BatchPoint]]:
    hists, used = [], []
    for p in history:
        if not p.accepted or key in p.flagged:
            continue
        h = histo.histogram_of(p.field_stats.get(name))
        if h is not None:
            hists.append(h)
            used.append(p)
    return hists, used


def drift(
    history: Sequence[BatchPoint], current: BatchPoint, name: str, s: DetectorSettings
) -> TestResult:
    """PSI of the batch against the merged recent history, on the reference's deciles.

    The tail probability treats PSI as the two-sample chi-square it approximates
    (PSI x n m / (n + m) with k - 1 degrees of freedom); the effect-size gate
    (PSI at least `psi_threshold`) and the minimum samples decide whether a
    significant result may count, since at large n any tiny shift is significant.
    """
    key = f"{DRIFT}:{name}"
    method = "PSI on reference deciles (chi-square tail, effect-size gate)"
    hists, used = _reference(history, name, key)
    window = _window(used)
    cur = histo.histogram_of(current.field_stats.get(name))
    if len(hists) < s.min_history:
        return TestResult(DRIFT, name, Status.INSUFFICIENT_HISTORY, method, window)
    m = sum(h.total for h in hists)
    if cur is None or cur.total < s.drift_min_sample or m < s.drift_reference_min:
        return TestResult(
            DRIFT, name, Status.INSUFFICIENT_SAMPLE, method, window,
            details={"batch_values": cur.total if cur else 0, "reference_values": m},
        )  # fmt: skip
    merged = histo.MergedCDF(hists)
    cuts = sorted({merged.quantile(k / 10) for k in range(1, 10)})
    ref = histo.shares_of(merged.mass_below, merged.total, cuts)
    now = histo.shares_of(cur.mass_below, cur.total, cuts)
    value = histo.psi(ref, now)
    n = cur.total
    stat = value * n * m / (n + m)
    p = chi2_sf(stat, max(1, len(ref) - 1))
    return TestResult(
        DRIFT, name, Status.TESTED, method, window,
        observed=value, expected=0.0, low=0.0, high=s.psi_threshold, direction="high",
        p_value=p, effect=value, gated=value < s.psi_threshold, weight=s.weight(DRIFT),
        details={"reference_shares": ref, "batch_shares": now, "cuts": cuts,
                 "batch_values": n, "reference_values": m},
    )  # fmt: skip


def outliers(
    history: Sequence[BatchPoint], current: BatchPoint, name: str, s: DetectorSettings
) -> TestResult:
    """Share of values outside the reference's [q, 1 - q] range, as a quasi-binomial excess.

    Why not a plain binomial on the merged share: the batches arrive as
    histograms with their own edges, so a batch's extreme values are smeared
    over its outer bin and its "count" outside the range is far more variable
    than Binomial(n, 2q); a plain binomial tail fires on pure noise. The
    dispersion is therefore measured on the reference itself: each reference
    batch's own exceedance against the same range gives a Pearson residual,
    their (winsorised) mean square is the quasi-binomial dispersion, inflated
    by the baseline's own sampling error (n / m), as the rate detectors do.
    Only an excess of at least `min_rate_delta` may alert (the effect size).
    """
    key = f"{OUTLIERS}:{name}"
    method = "share outside the reference range [q0.001, q0.999], quasi-binomial tail"
    hists, used = _reference(history, name, key)
    window = _window(used)
    cur = histo.histogram_of(current.field_stats.get(name))
    if len(hists) < s.min_history:
        return TestResult(OUTLIERS, name, Status.INSUFFICIENT_HISTORY, method, window)
    m = sum(h.total for h in hists)
    if cur is None or cur.total < s.drift_min_sample or m < s.drift_reference_min:
        return TestResult(OUTLIERS, name, Status.INSUFFICIENT_SAMPLE, method, window)
    merged = histo.MergedCDF(hists)
    lo = merged.quantile(s.outlier_quantile)
    hi = merged.quantile(1 - s.outlier_quantile)

    def outside(h: histo.Histogram) -> float:
        return max(0.0, h.mass_below(lo) + h.total - h.mass_below(hi))

    ref = [(outside(h), h.total) for h in hists]
    p0 = max(sum(x for x, _ in ref) / m, 0.5 / m)
    resid = [(x - t * p0) / math.sqrt(t * p0 * (1 - p0)) for x, t in ref]
    clip = 4.0 * math.sqrt(1.0 / p0)  # keeps one wild reference batch from owning phi
    phi = max(1.0, sum(min(r, clip) ** 2 for r in resid) / len(resid))
    n = cur.total
    phi *= 1.0 + n / m
    x = outside(cur)
    p = binom_sf(x / phi, n / phi, p0)
    excess = x / n - p0
    return TestResult(
        OUTLIERS, name, Status.TESTED, method, window,
        observed=x / n, expected=p0, low=lo, high=hi, direction="high", p_value=p,
        effect=excess, gated=excess < s.min_rate_delta, weight=s.weight(OUTLIERS),
        details={"outside": x, "values": n, "range": [lo, hi], "dispersion": phi},
    )  # fmt: skip
