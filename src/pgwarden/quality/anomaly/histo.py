"""A numeric field's distribution from the checker's summaries, for drift and outliers.

Each batch carries, per numeric field, a 10-bin equal-width histogram (edges
from the batch's own min to max) and a few quantiles. Equal-width bins say
little about a heavy-tailed or multi-modal field (most of a lognormal batch
sits in the first bin), so the detectors never re-bin them. Instead each
batch becomes a piecewise-linear CDF through the points it knows: its
quantiles (at the expected uniform order statistic, r / (n + 1)), its bin
edges (exact counts) and its min and max. The reference is the count-
weighted sum of these CDFs over recent batches, kept as one piecewise-linear
function (`Reference`).

Drift then uses the probability integral transform, which holds for any
continuous field: a batch's own quantiles, read on the reference CDF, are
uniform order statistics under the null, with a known mean and covariance
(`pit_moments`). Outliers count the values a batch certainly has beyond the
reference's extreme quantiles (whole bins, the min and the max), which needs
no assumption about the shape between the summaries' points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain
from typing import Any

from pgwarden.quality.anomaly.seasonal import np


@dataclass(frozen=True)
class Summary:
    """One batch's field summary: counts per equal-width bin, quantiles, size."""

    edges: tuple[float, ...]
    counts: tuple[float, ...]
    levels: tuple[float, ...]
    quantiles: tuple[float, ...]

    @cached_property
    def total(self) -> float:
        return float(sum(self.counts))

    def knots(self) -> tuple[list[float], list[float]]:
        """(x, F) points of the batch's CDF: edges with exact shares, quantiles, min, max
        (computed once: a drift test builds three references over the same batches)."""
        return self._knots

    @cached_property
    def _knots(self) -> tuple[list[float], list[float]]:
        n = self.total
        xs = [self.edges[0], self.edges[-1]]
        ys = [1.0 / (n + 1.0), n / (n + 1.0)]
        below = 0.0
        for e, c in zip(self.edges[1:-1], self.counts[:-1], strict=False):
            below += c
            xs.append(e)
            ys.append((below + 0.5) / (n + 1.0))
        for p, q in zip(self.levels, self.quantiles, strict=False):
            xs.append(q)
            ys.append((p * (n - 1.0) + 1.0) / (n + 1.0))
        order = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
        out_x, out_y, top = [], [], 0.0
        for i in order:
            top = max(top, ys[i])
            out_x.append(xs[i])
            out_y.append(top)
        return out_x, out_y

    def points(self) -> tuple[list[float], list[float]]:
        """(x, rank) of the batch's own order statistics: its quantiles (rank p (n - 1) + 1),
        or, for a summary without quantiles, its interior bin edges (count below + 1/2)."""
        n = self.total
        if self.levels:
            return list(self.quantiles), [p * (n - 1.0) + 1.0 for p in self.levels]
        xs, ranks, below, seen = [], [], 0.0, set()
        for e, c in zip(self.edges[1:-1], self.counts[:-1], strict=False):
            below += c
            if 0 < below < n and below not in seen:
                seen.add(below)
                xs.append(e)
                ranks.append(below + 0.5)
        return xs, ranks

    def certainly_below(self, x: float) -> float:
        """Values certainly < x: whole bins, the min, and quantile ranks below x."""
        if self.edges[0] >= x:
            return 0.0
        count, below = 1.0, 0.0
        for e, c in zip(self.edges[1:], self.counts, strict=False):
            below += c
            if e <= x:
                count = max(count, below)
        n = self.total
        for p, q in zip(self.levels, self.quantiles, strict=False):
            if q < x:
                count = max(count, math.floor(p * (n - 1.0)) + 1.0)
        return min(count, n)

    def certainly_above(self, x: float) -> float:
        if self.edges[-1] <= x:
            return 0.0
        count, above = 1.0, 0.0
        for e, c in zip(reversed(self.edges[:-1]), reversed(self.counts), strict=False):
            above += c
            if e > x:
                count = max(count, above)
        n = self.total
        for p, q in zip(self.levels, self.quantiles, strict=False):
            if q > x:
                count = max(count, n - math.ceil(p * (n - 1.0)))
        return min(count, n)


def summary_of(stats: Mapping[str, Any] | None) -> Summary | None:
    """The summary in one field's stats ({"numeric": {"histogram": ..., "quantiles": ...}})."""
    if not stats or not isinstance(stats, Mapping):
        return None
    numeric = stats.get("numeric")
    if not isinstance(numeric, Mapping):
        return None
    hist = numeric.get("histogram")
    if not isinstance(hist, Mapping):
        return None
    try:
        edges = tuple(float(e) for e in hist.get("edges", ()))
        counts = tuple(float(c) for c in hist.get("counts", ()))
        levels = tuple(float(p) for p in numeric.get("quantile_levels") or ())
        quantiles = tuple(float(q) for q in numeric.get("quantiles") or ())
    except (TypeError, ValueError):
        return None
    if len(edges) != len(counts) + 1 or not counts or not all(map(math.isfinite, edges)):
        return None
    if any(b < a for a, b in zip(edges, edges[1:], strict=False)) or sum(counts) <= 0:
        return None
    if len(levels) != len(quantiles) or not all(map(math.isfinite, quantiles)):
        levels, quantiles = (), ()
    return Summary(edges, counts, levels, quantiles)


class Reference:
    """The count-weighted mixture of many batches' piecewise-linear CDFs (numpy).

    Each batch's CDF is 0 below its first knot, linear between knots and 1
    from its last knot on; the mixture is again piecewise linear, built in one
    sort over all segments, so evaluating it at many points is a search.
    """

    def __init__(self, summaries: Sequence[Summary]) -> None:
        n = np()
        knots = [sm.knots() for sm in summaries]
        total = 0.0
        for sm in summaries:
            total += sm.total
        sizes = [len(xs) for xs, _ in knots]
        x = n.fromiter(chain.from_iterable(xs for xs, _ in knots), float, sum(sizes))
        y = n.fromiter(chain.from_iterable(ys for _, ys in knots), float, sum(sizes))
        w = n.repeat(n.array([sm.total for sm in summaries], dtype=float), sizes)
        last = n.cumsum(sizes) - 1
        seg = n.ones(len(x), dtype=bool)
        seg[last] = False  # no segment from a batch's last knot into the next batch
        i = n.flatnonzero(seg)
        i = i[x[i + 1] > x[i]]
        slope = (y[i + 1] - y[i]) / (x[i + 1] - x[i])
        start = w[i] * (y[i] - slope * x[i])
        xs_all = n.concatenate([x[i], x[i + 1], x[last]])
        a_all = n.concatenate([start, -start, w[last]])
        s_all = n.concatenate([w[i] * slope, -w[i] * slope, n.zeros(len(last))])
        self.total = total
        order = n.argsort(xs_all, kind="stable")
        self.x = xs_all[order]
        self.a = n.cumsum(a_all[order])
        self.s = n.cumsum(s_all[order])
        # F at each event point (after the event), for the inverse
        self.f = n.clip((self.a + self.s * self.x) / max(total, 1e-300), 0.0, 1.0)
        self.f = n.maximum.accumulate(self.f)

    def cdf(self, q: Any) -> Any:
        n = np()
        q = n.asarray(q, dtype=float)
        i = n.searchsorted(self.x, q, side="right") - 1
        ok = i >= 0
        j = n.where(ok, i, 0)
        val = n.where(ok, (self.a[j] + self.s[j] * q) / max(self.total, 1e-300), 0.0)
        return n.clip(val, 0.0, 1.0)

    def quantile(self, p: float) -> float:
        n = np()
        i = int(n.searchsorted(self.f, p, side="left"))
        if i >= len(self.x):
            return float(self.x[-1])
        if i == 0:
            return float(self.x[0])
        # linear inside the segment that starts at x[i - 1]
        s = self.s[i - 1]
        if s <= 0:
            return float(self.x[i])
        value = (p * self.total - self.a[i - 1]) / s
        return float(min(max(value, self.x[i - 1]), self.x[i]))


def pit_moments(ranks: Sequence[float], n: float) -> tuple[Any, Any]:
    """`pit_moments_of` through a cache: a batch's size and levels recur from batch to batch."""
    return _pit_moments(tuple(float(r) for r in ranks), float(n))


@lru_cache(maxsize=4096)
def _pit_moments(ranks: tuple[float, ...], n: float) -> tuple[Any, Any]:
    mean, cov = pit_moments_of(ranks, n)
    mean.setflags(write=False)
    cov.setflags(write=False)
    return mean, cov


def pit_moments_of(ranks: Sequence[float], n: float) -> tuple[Any, Any]:
    """Mean and covariance of the reference CDF at a batch's interpolated order statistics.

    The quantile at level p of n values is (1 - w) X(k) + w X(k + 1) with
    k + w = p (n - 1) + 1; under the null F(X(k)) is the k-th uniform order
    statistic, with E = k / (n + 1) and Cov(U(i), U(j)) = i (n + 1 - j) /
    ((n + 1)^2 (n + 2)) for i <= j.
    """
    npx = np()
    r = npx.asarray(ranks, dtype=float)
    k = npx.floor(r)
    w = r - k
    pos = npx.stack([k, npx.minimum(k + 1.0, n)], axis=1)  # (m, 2)
    wt = npx.stack([1.0 - w, w], axis=1)
    lo = npx.minimum(pos[:, :, None, None], pos[None, None, :, :])
    hi = npx.maximum(pos[:, :, None, None], pos[None, None, :, :])
    f = lo * (n + 1.0 - hi) / ((n + 1.0) ** 2 * (n + 2.0))
    cov = npx.einsum("ia,jb,iajb->ij", wt, wt, f)
    return r / (n + 1.0), cov


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index (symmetric KL) between two share vectors."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total
