"""Distribution tails and multiple-testing control, in plain Python (no scipy).

The detectors need a handful of upper and lower tails (Poisson, negative
binomial, binomial, chi-square, normal, Student t). They all reduce to the
regularised incomplete gamma and beta functions, computed here with the
classic series / continued-fraction pair and `math.lgamma`. Accuracy is about
1e-12 relative, far more than a 0..1 anomaly score needs; keeping them here
keeps `import pgwarden.quality` free of scipy's import cost.

All "counts" may be non-integer: the quasi-likelihood detectors scale a count
and its trials by a dispersion factor, and the continuous extensions through
the incomplete functions are exactly what that needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500


def _gamma_series(a: float, x: float) -> float:
    """Lower regularised gamma P(a, x) by its series (good for x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_cf(a: float, x: float) -> float:
    """Upper regularised gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x)."""
    if x <= 0:
        return 0.0
    if x < a + 1.0:
        return min(1.0, _gamma_series(a, x))
    return max(0.0, 1.0 - _gamma_cf(a, x))


def gamma_q(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) = 1 - P(a, x), without cancellation."""
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_series(a, x))
    return min(1.0, _gamma_cf(a, x))


def _beta_cf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def beta_inc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast only on one side of the mean.
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _beta_cf(a, b, x) / a)
    return max(0.0, 1.0 - front * _beta_cf(b, a, 1.0 - x) / b)


# -- tails ---------------------------------------------------------------------


def poisson_sf(k: float, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu); k may be non-integer (continuous extension)."""
    if k <= 0:
        return 1.0
    return gamma_p(k, mu)


def poisson_cdf(k: float, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    return gamma_q(k + 1.0, mu)


def negbin_tails(k: float, mean: float, dispersion: float) -> tuple[float, float]:
    """(P(X <= k), P(X >= k)) for a count with this mean and variance = dispersion * mean.

    dispersion <= 1 falls back to Poisson; above it the negative binomial with
    size r = mean / (dispersion - 1) and success probability 1 / dispersion.
    """
    if mean <= 0:
        return (1.0, 1.0 if k <= 0 else 0.0)
    if dispersion <= 1.0 + 1e-9:
        return poisson_cdf(k, mean), poisson_sf(k, mean)
    p = 1.0 / dispersion
    r = mean / (dispersion - 1.0)
    lower = 0.0 if k < 0 else beta_inc(r, k + 1.0, p)
    upper = 1.0 if k <= 0 else beta_inc(k, r, 1.0 - p)
    return lower, upper


def binom_sf(k: float, n: float, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p); n and k may be non-integer (quasi-binomial)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return beta_inc(k, n - k + 1.0, p)


def chi2_sf(x: float, df: float) -> float:
    """P(X >= x) for X ~ chi-square(df)."""
    return gamma_q(df / 2.0, x / 2.0)


def norm_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with df degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * beta_inc(df / 2.0, 0.5, x)
    return tail if t >= 0 else 1.0 - tail


def t_quantile(prob: float, df: float) -> float:
    """The t value with P(T <= t) = prob, by bisection on `t_sf`."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 1.0 - t_sf(mid, df) < prob:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


# -- robust summaries -------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    if n == 0:
        raise ValueError("median of an empty sequence")
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad_sigma(values: Sequence[float], center: float | None = None) -> float:
    """The MAD scaled to estimate a normal standard deviation (1.4826 x MAD)."""
    c = median(values) if center is None else center
    return 1.4826 * median([abs(v - c) for v in values])


# -- multiple testing ---------------------------------------------------------------


def weighted_bh(
    pvalues: Sequence[float], weights: Sequence[float], q: float, *, normalize: bool = True
) -> tuple[list[bool], list[float]]:
    """Weighted Benjamini-Hochberg (Genovese, Roeder & Wasserman 2006).

    Weights are rescaled to average 1 (or, with normalize=False, taken as
    given: a caller may keep their sum below m to leave budget unused); each
    p-value is divided by its weight and the step-up procedure runs at level
    q. With equal weights this is the plain BH procedure. Returns (rejected,
    adjusted q-values), in input order. A weight of 0 never rejects.
    """
    m = len(pvalues)
    if m == 0:
        return [], []
    total = sum(weights)
    if total <= 0:
        return [False] * m, [1.0] * m
    scaled = []
    for p, w in zip(pvalues, weights, strict=True):
        wn = w * m / total if normalize else w
        scaled.append(min(1.0, p / wn) if wn > 0 else math.inf)
    order = sorted(range(m), key=lambda i: scaled[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        value = scaled[i] * m / rank if math.isfinite(scaled[i]) else 1.0
        running = min(running, value)
        adjusted[i] = min(1.0, running)
    rejected = [adjusted[i] <= q for i in range(m)]
    return rejected, adjusted
