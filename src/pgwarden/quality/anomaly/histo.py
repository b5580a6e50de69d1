"""Histogram arithmetic for drift and outliers, over the checker's `field_stats`.

Each batch carries, per numeric field, a histogram with its own edges. To
compare a batch with its history the histograms are treated as piecewise
uniform densities (mass spread evenly inside a bin), merged into one reference,
and re-binned on the reference's deciles. A zero-width bin is a point mass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index (symmetric KL) between two share vectors."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, floor), max(a, floor)
        total += (a - e) * math.log(a / e)
    return total
