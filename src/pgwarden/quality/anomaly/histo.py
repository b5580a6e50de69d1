"""Histogram arithmetic for drift and outliers, over the checker's `field_stats`.

Each batch carries, per numeric field, a histogram with its own edges. To
compare a batch with its history the histograms are treated as piecewise
uniform densities (mass spread evenly inside a bin), merged into one reference,
and re-binned on the reference's deciles. A zero-width bin is a point mass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]
    counts: tuple[float, ...]

    @property
    def total(self) -> float:
        return float(sum(self.counts))

    def mass_below(self, x: float) -> float:
        """Mass at values < x (with a point mass at x counted as below when equal)."""
        mass = 0.0
        for lo, hi, c in zip(self.edges, self.edges[1:], self.counts, strict=False):
            if c <= 0:
                continue
            if hi <= lo:
                if lo <= x:
                    mass += c
            elif x >= hi:
                mass += c
            elif x > lo:
                mass += c * (x - lo) / (hi - lo)
        return mass


def histogram_of(stats: Mapping[str, Any] | None) -> Histogram | None:
    """The histogram in one field's stats ({"numeric": {"histogram": {...}}}), if usable."""
    if not stats:
        return None
    numeric = stats.get("numeric") if isinstance(stats, Mapping) else None
    if not isinstance(numeric, Mapping):
        return None
    hist = numeric.get("histogram")
    if not isinstance(hist, Mapping):
        return None
    try:
        edges = tuple(float(e) for e in hist.get("edges", ()))
        counts = tuple(float(c) for c in hist.get("counts", ()))
    except (TypeError, ValueError):
        return None
    if len(edges) != len(counts) + 1 or not counts or not all(map(math.isfinite, edges)):
        return None
    if any(b < a for a, b in zip(edges, edges[1:], strict=False)) or sum(counts) <= 0:
        return None
    return Histogram(edges, counts)


def merged_cdf(hists: Sequence[Histogram]) -> tuple[list[float], float]:
    """(sorted breakpoints, total mass) of a merged reference, for quantile search."""
    points = sorted({e for h in hists for e in h.edges})
    return points, sum(h.total for h in hists)


def mass_below(hists: Sequence[Histogram], x: float) -> float:
    return sum(h.mass_below(x) for h in hists)


def quantile(hists: Sequence[Histogram], prob: float) -> float:
    """The value below which `prob` of the merged mass lies (bisection between breakpoints)."""
    points, total = merged_cdf(hists)
    target = prob * total
    lo, hi = points[0], points[-1]
    if mass_below(hists, lo) >= target:
        return lo
    for _ in range(60):
        mid = (lo + hi) / 2
        if mass_below(hists, mid) < target:
            lo = mid
        else:
            hi = mid
    return hi


def bin_shares(hists: Sequence[Histogram], cuts: Sequence[float]) -> list[float]:
    """Share of the merged mass in (-inf, c1), [c1, c2), ..., [ck, inf)."""
    total = sum(h.total for h in hists)
    below = [mass_below(hists, c) for c in cuts]
    edges = [0.0, *below, total]
    return [max(0.0, (b - a) / total) for a, b in zip(edges, edges[1:], strict=False)]


def shares_of(
    mass_below: Callable[[float], float], total: float, cuts: Sequence[float]
) -> list[float]:
    """Shares of a distribution in (-inf, c1), [c1, c2), ..., [ck, inf)."""
    edges = [0.0, *(mass_below(c) for c in cuts), total]
    return [max(0.0, (b - a) / total) for a, b in zip(edges, edges[1:], strict=False)]


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index (symmetric KL) between two share vectors."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total


class MergedCDF:
    """The merged distribution of many histograms as one piecewise-linear CDF.

    Built in one sweep over the sorted bin edges (O(E log E) for E edges), so
    the reference of a few hundred batches costs milliseconds; `cdf` and
    `quantile` are then binary searches.
    """

    def __init__(self, hists: Sequence[Histogram]) -> None:
        import bisect

        self._bisect = bisect
        events: dict[float, list[float]] = {}  # x -> [density change, point mass]
        total = 0.0
        for h in hists:
            for lo, hi, c in zip(h.edges, h.edges[1:], h.counts, strict=False):
                if c <= 0:
                    continue
                total += c
                if hi <= lo:
                    events.setdefault(lo, [0.0, 0.0])[1] += c
                else:
                    d = c / (hi - lo)
                    events.setdefault(lo, [0.0, 0.0])[0] += d
                    events.setdefault(hi, [0.0, 0.0])[0] -= d
        self.total = total
        self.xs: list[float] = sorted(events)
        # below[i]: mass strictly below xs[i]; at[i]: mass up to and including xs[i]
        self.below: list[float] = []
        self.at: list[float] = []
        self.density: list[float] = []  # on [xs[i], xs[i+1])
        mass, density, prev = 0.0, 0.0, None
        for x in self.xs:
            if prev is not None:
                mass += density * (x - prev)
            self.below.append(mass)
            mass += events[x][1]
            self.at.append(mass)
            density += events[x][0]
            self.density.append(max(0.0, density))
            prev = x

    def mass_below(self, x: float) -> float:
        """Mass at values < x, point masses at x counted (as `Histogram.mass_below`)."""
        i = self._bisect.bisect_right(self.xs, x) - 1
        if i < 0:
            return 0.0
        return self.at[i] + self.density[i] * (x - self.xs[i])

    def quantile(self, prob: float) -> float:
        target = prob * self.total
        i = self._bisect.bisect_left(self.at, target)
        if i >= len(self.xs):
            return self.xs[-1]
        if self.below[i] >= target and i > 0:
            # inside the linear stretch before xs[i]
            j = i - 1
            d = self.density[j]
            return self.xs[j] + (target - self.at[j]) / d if d > 0 else self.xs[i]
        return self.xs[i]
