"""Distribution tails (scipy) and the two pieces scipy has no equivalent for.

The tails are thin wrappers over `scipy.special`: the regularised incomplete
gamma and beta functions (Poisson, negative binomial and binomial tails,
with their continuous extension to non-integer counts, which the
quasi-likelihood detectors need when they scale a count and its trials by a
dispersion factor), `ndtr`/`ndtri` (normal), `stdtr`/`stdtrit` (Student t)
and `chdtrc` (chi-square). scipy is imported on first use, not when
`pgwarden.quality` is imported: it costs a few hundred milliseconds and only
the detectors and reports need it.

Kept here because scipy has no equivalent: the weighted Benjamini-Hochberg
step (Genovese, Roeder & Wasserman 2006, with budget left unused) and the
median / MAD pair on plain sequences; plus `unit_uniform`, the reproducible
uniform draw that randomises the p-value of a discrete test.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import cache
from typing import Any


@cache
def special() -> Any:
    """scipy.special, imported once on first use (keeps `import pgwarden.quality` fast)."""
    import scipy.special

    return scipy.special


# -- tails ---------------------------------------------------------------------


def poisson_sf(k: float, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu); k may be non-integer (continuous extension)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    return float(special().gammainc(k, mu))


def poisson_cdf(k: float, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    return float(special().gammaincc(k + 1.0, mu))


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
    sp = special()
    lower = 0.0 if k < 0 else float(sp.betainc(r, k + 1.0, p))
    upper = 1.0 if k <= 0 else float(sp.betainc(k, r, 1.0 - p))
    return lower, upper


def binom_sf(k: float, n: float, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p); n and k may be non-integer (quasi-binomial)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return float(special().betainc(k, n - k + 1.0, p))


def chi2_sf(x: float, df: float) -> float:
    """P(X >= x) for X ~ chi-square(df)."""
    if x <= 0:
        return 1.0
    return float(special().chdtrc(df, x))


def norm_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return float(special().ndtr(-z))


def norm_isf(p: float) -> float:
    """The z with P(Z >= z) = p."""
    return float(-special().ndtri(min(max(p, 1e-300), 1.0)))


def t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with df degrees of freedom."""
    return float(special().stdtr(df, -t))


def t_quantile(prob: float, df: float) -> float:
    """The t value with P(T <= t) = prob."""
    return float(special().stdtrit(df, prob))


def randomized(upper_strict: float, at: float, u: float) -> float:
    """The randomised p-value P(X > x) + u P(X = x) of a discrete upper-tail test.

    Exactly uniform under the null for any discrete X, where the plain
    P(X >= x) puts a lump at 1 (no defect at all) and spends less than its
    level; `u` comes from `unit_uniform`, so a re-run gives the same value.
    """
    return min(1.0, max(0.0, upper_strict + u * at))


def cauchy_combine(pvalues: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """One p-value from several dependent ones (Liu & Xie 2020, Cauchy combination).

    sum(w_i tan((1/2 - p_i) pi)) with weights summing to 1 is standard Cauchy
    under the null whatever the dependence between the tests in the tail, so
    unlike Bonferroni (min p x k) the result stays calibrated instead of
    conservative; far in the tail it is about min(p_i / w_i), so a test with
    most of the weight loses little to the others. Equal weights by default.
    """
    ps = [min(max(p, 1e-300), 1.0 - 1e-15) for p in pvalues]
    if not ps:
        return 1.0
    ws = [1.0 / len(ps)] * len(ps) if weights is None else list(weights)
    total = sum(ws)
    if len(ws) != len(ps) or total <= 0:
        raise ValueError(f"cauchy_combine: {len(ws)} weights for {len(ps)} p-values")
    ws = [w / total for w in ws]
    # tan((1/2 - p) pi) ~ 1 / (p pi) far in the tail: avoid the cancellation
    t = sum(
        w * (1.0 / (p * math.pi) if p < 1e-15 else math.tan((0.5 - p) * math.pi))
        for p, w in zip(ps, ws, strict=True)
    )
    if t > 1e15:
        return min(1.0, 1.0 / (t * math.pi))
    return min(1.0, max(0.0, 0.5 - math.atan(t) / math.pi))


def unit_uniform(*key: object) -> float:
    """A reproducible number in (0, 1) from a key (batch id, metric): the randomiser."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


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
