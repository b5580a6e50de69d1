"""The six detectors, one pure function each: history + batch -> TestResult.

Every detector returns a tail probability (`p_value`) under a baseline that
never includes the batch under test and leaves out points already flagged for
the same metric; discrete tests return the randomised p-value (uniform under
the null, reproducible per batch and metric), so every detector spends
exactly its share of the false-alert budget. Deciding which results are
anomalies is a separate step (weighted Benjamini-Hochberg, `engine.py`).

Effect-size gates are relative to the source's own behaviour (a rate at
least `min_rate_ratio` times its usual level, a gap of at least half a
cadence, a PSI of at least `psi_threshold`), never an absolute share, so a
x3 jump on a 0.1 % missing rate counts like one on 10 %. Rates and drift are
also tested on the last hour (rates) or the last batches (drift) together,
so evidence that one small batch cannot carry accumulates over a few; with
several fields, each field's own null and wrong-type rate is tested too (a
break in one field of 24 hides in the batch's total, not in its field's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache
from typing import Any

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
    cauchy_combine,
    median,
    negbin_tails,
    norm_isf,
    norm_sf,
    randomized,
    special,
    unit_uniform,
)


@dataclass(frozen=True)
class DetectorSettings:
    """Tuning of the detectors; defaults are the documented ones (see config keys)."""

    # False-discovery level per HOUR of the source's time, whatever its cadence:
    # a batch every 15 minutes gets a quarter of it, every 5 minutes a twelfth.
    # With every test null it is the expected number of false anomalies per
    # hour, so 1/1440 is 0.5 per 30-day month: "at most one per source-month"
    # with margin, since a month's count is Poisson.
    fdr: float = 1.0 / 1440.0
    min_history: int = 24  # batches before any test runs
    psi_threshold: float = 0.2  # drift effect size (PSI between the batch's quantiles)
    drift_min_sample: int = 20  # values a batch needs to be tested alone
    drift_window: int = 3  # drift is also tested on the last batches together
    min_rate_ratio: float = 1.5  # a rate must reach this multiple of its baseline
    min_rate_delta: float = 0.0  # ... and exceed it by this much (absolute; 0 = off)
    rate_window: float = 3600.0  # seconds: rates are also tested on the last hour
    rate_batches: int = 3  # ... and each field's rate on the last batches together
    outlier_quantile: float = 0.001  # reference range = [q, 1 - q]
    reference_min_batches: int = 24
    learn_zone: bool = True  # learn the source's time zone from its history
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

    def per_test_level(self, metric: str, batch_level: float | None = None) -> float:
        """The level one test meets alone (used for the expected range shown to people)."""
        total = sum(w for _, w in self.weights) or 1.0
        return (self.fdr if batch_level is None else batch_level) * self.weight(metric) / total


def _window(points: Sequence[BatchPoint]) -> Window:
    if not points:
        return Window(None, None, 0)
    return Window(points[0].received_at, points[-1].received_at, len(points))


@dataclass(frozen=True)
class Columns:
    """The history as numpy columns, built once per history (one-slot cache by identity)."""

    times: Any
    records: Any
    accepted: Any
    missing: Any
    mismatches: Any
    cells: Any  # records x fields: the trials of the missing and format rates
    flags: dict[str, Any]

    def usable(self, key: str) -> Any:
        return self.accepted & ~self.flags[key]

    def window(self, history: Sequence[BatchPoint], mask: Any) -> Window:
        idx = seasonal.np().flatnonzero(mask)
        if len(idx) == 0:
            return Window(None, None, 0)
        return Window(history[idx[0]].received_at, history[idx[-1]].received_at, len(idx))


_LAST: tuple[object, Columns | None] = (None, None)


def columns(history: Sequence[BatchPoint]) -> Columns:
    global _LAST
    held, cols = _LAST
    if held is history and cols is not None and len(cols.times) == len(history):
        return cols
    n = seasonal.np()
    rows = [
        (p.received_at.timestamp(), p.records, p.accepted, p.missing_values, p.type_mismatches,
         p.records * p.fields, VOLUME in p.flagged, MISSING in p.flagged, FORMAT in p.flagged,
         TIMING in p.flagged)
        for p in history
    ]  # fmt: skip
    a = n.array(rows, dtype=float).reshape(len(rows), 10)
    cols = Columns(
        a[:, 0], a[:, 1], a[:, 2] > 0, a[:, 3], a[:, 4], a[:, 5],
        {VOLUME: a[:, 6] > 0, MISSING: a[:, 7] > 0, FORMAT: a[:, 8] > 0, TIMING: a[:, 9] > 0},
    )  # fmt: skip
    _LAST = (history, cols)
    return cols


def batch_level(history: Sequence[BatchPoint], s: DetectorSettings) -> float:
    """This batch's share of the hourly budget: fdr x cadence in hours (1 minute .. 1 day)."""
    times = columns(history).times[-500:]
    cadence = seasonal.cadence_of(times) if len(times) >= 2 else 3600.0
    return s.fdr * min(max(cadence, 60.0), 86400.0) / 3600.0


# -- volume --------------------------------------------------------------------------

#: share of the volume test's level kept for the batch alone; the rest is the windows'
VOLUME_BATCH_WEIGHT = 0.9


#: share of the two-sided level spent on the upper tail (spikes). A count's upper
#: tail is the heavy one (a 5-sigma spike on a negative binomial with k = 50
#: has p ~ 3e-5, a 5-sigma drop ~ 1e-12), so an even split would waste most of
#: the lower half on drops that are found anyway.
VOLUME_UPPER_SHARE = 0.8


def _count_p(x: float, mu: float, variance: float, u: float) -> float:
    """Two-sided randomised p-value of a count under a negative binomial of this mean and
    variance (Poisson when the variance is not above the mean), the level split unevenly
    between the tails (`VOLUME_UPPER_SHARE`): uniform under the null all the same."""
    le, ge = negbin_tails(x, mu, variance / mu)
    pmf = max(0.0, le + ge - 1.0)
    cdf = min(1.0, max(0.0, le - (1.0 - u) * pmf))  # randomised: uniform under the null
    return min(1.0, cdf / (1.0 - VOLUME_UPPER_SHARE), (1.0 - cdf) / VOLUME_UPPER_SHARE)


def volume(
    history: Sequence[BatchPoint],
    current: BatchPoint,
    tz: tzinfo,
    s: DetectorSettings,
    level: float | None = None,
) -> TestResult:
    """Record count against the seasonal negative-binomial baseline (spike or drop)."""
    cols = columns(history)
    usable = cols.usable(VOLUME)
    window = cols.window(history, usable)
    method = "negative binomial around a slot-of-week baseline in the source's local time"
    fit = None
    if usable.sum() >= s.min_history and history:
        fit = seasonal.fit_volume(
            cols.times, cols.records, usable, current.received_at.timestamp(), tz,
            min_points=s.min_history, learn=s.learn_zone,
        )  # fmt: skip
    if fit is None:
        return TestResult(
            VOLUME, None, Status.INSUFFICIENT_HISTORY, method, window,
            observed=float(current.records), weight=s.weight(VOLUME),
            details={"needs": f"two days of history and {s.min_history} batches"},
        )  # fmt: skip
    mu = max(fit.expected, 1e-9)
    variance = max(fit.variance, mu * 1e-6)
    x = float(current.records)
    p_batch = _count_p(x, mu, variance, unit_uniform(current.batch_id, VOLUME))
    z_hi = norm_isf(s.per_test_level(VOLUME, level) * VOLUME_UPPER_SHARE)
    z_lo = norm_isf(s.per_test_level(VOLUME, level) * (1.0 - VOLUME_UPPER_SHARE))
    sd = math.sqrt(variance)
    effect = (x - mu) / sd
    # A change that lasts is also tested on the last 2 and 3 batches together:
    # a 5-sigma spike a single batch's level may miss is ~7 sigma over two.
    tests, weights = [p_batch], [VOLUME_BATCH_WEIGHT]
    strength, driven = abs(effect), "batch"
    for size in range(2, seasonal.WINDOW + 1):
        win = fit.window(x, size)
        if win is None:
            break
        wx, wm, wv = win
        pw = _count_p(
            wx, max(wm, 1e-9), max(wv, wm * 1e-6), unit_uniform(current.batch_id, VOLUME, size)
        )
        tests.append(pw)
        weights.append((1.0 - VOLUME_BATCH_WEIGHT) / (seasonal.WINDOW - 1))
        if pw / weights[-1] < min(t / w for t, w in zip(tests[:-1], weights[:-1], strict=True)):
            strength, driven = abs(wx - wm) / math.sqrt(wv), f"last {size} batches"
    p = cauchy_combine(tests, weights) if len(tests) > 1 else p_batch
    return TestResult(
        VOLUME, None, Status.TESTED, f"{method}; seasonality: {fit.seasonality}", window,
        observed=x, expected=mu, low=max(0.0, mu - z_lo * sd), high=mu + z_hi * sd,
        direction="high" if x > mu else "low", p_value=p, effect=effect,
        weight=s.weight(VOLUME), strength=strength,
        details={"alpha": fit.alpha, "sd": sd, "zone": fit.zone, "slot_minutes": fit.slot_minutes,
                 "cadence_seconds": fit.cadence, "gap_exponent": fit.beta,
                 "neighbour": fit.neighbour, "relative": x / mu, "batch_p_value": p_batch,
                 "window_p_values": tests[1:], "evidence": driven},
    )  # fmt: skip


# -- rates -----------------------------------------------------------------------------


def _quasi_upper(
    x: float, n: float, p0: float, phi: float, u: float, none_seen: bool = False
) -> float:
    """Randomised upper tail of a quasi-binomial count (x and n scaled by phi).

    `none_seen`: the history holds no such value at all, and p0 is only the
    smoothed rate it cannot rule out. A count of zero then gets `u` itself,
    uniform as it is under the null that rate zero is: with p0's tail, a
    batch without any could not score below P(X >= 1) (a 4-hour window not
    below about 3e-3), and a rate that is always zero, such as the wrong
    types of most sources, spent about half its share of the budget
    (0.50 at 1e-3, 0.14 at 1e-4). A first value is still graded on p0.
    """
    if none_seen and x <= 0:
        return u
    ge = binom_sf(x / phi, n / phi, p0)
    gt = binom_sf((x + 1.0) / phi, n / phi, p0)
    return randomized(gt, max(0.0, ge - gt), u)


#: Cauchy weights of a rate's tests: the batch, the last hour, the last 4 hours. The
#: hour holds most: a rare rate's change shows over an hour's batches, not in one.
RATE_WEIGHTS = (0.25, 0.5, 0.25)

#: share of a rate's Cauchy weight given to its per-field tests when the batch has
#: several fields (the rest keeps `RATE_WEIGHTS`' proportions): a break in one of 24
#: fields is 1/24 of the batch's rate but hundreds of times its own field's rate.
FIELD_WEIGHT = 0.4

#: the per-field key of each rate in a field's stats
FIELD_KEYS = {MISSING: "nulls", FORMAT: "type_mismatch"}


@dataclass(frozen=True)
class FieldRate:
    """One field's rate test: the combined p-value and what drove it."""

    name: str
    p_value: float
    count: float
    trials: float
    baseline: float
    batches: int  # 1: the batch alone drove it; more: the last batches together


def field_rates(
    metric: str, history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> list[FieldRate]:
    """Each field's rate (nulls or wrong types per record) against its own history.

    Per field, a randomised quasi-binomial on the batch alone and on the batch
    with the `rate_batches - 1` latest usable batches before it (a small batch's
    evidence adds up over a few), Cauchy-combined; the trials are the records
    (one value per record and field). The baseline and dispersion come from the
    field's counts on usable history batches that carry field stats; fields with
    fewer than `min_history` such batches are not tested.
    """
    key = FIELD_KEYS[metric]
    current_counts = current.field_counts(key)
    names = sorted(current_counts)
    if len(names) < 2 or current.records <= 0:
        return []
    npx = seasonal.np()
    rows: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for p in reversed(history):
        if not p.field_stats or not p.accepted or metric in p.flagged or p.records <= 0:
            continue
        counts, records = p.field_counts(key), float(p.records)
        for n in names:
            c = counts.get(n)
            if c is not None:
                rows[n].append((c, records))
    out = []
    n_cur = float(current.records)
    for name in names:
        got = rows[name]
        if len(got) < s.min_history:
            continue
        a = npx.array(got, dtype=float)
        xs, ns = a[:, 0], a[:, 1]
        total_x, total_n = float(xs.sum()), float(ns.sum())
        p0 = (total_x + 0.5) / (total_n + 1.0)
        resid = npx.minimum(25.0, (xs - ns * p0) ** 2 / (ns * p0 * (1 - p0)))
        phi = max(1.0, float(resid.mean()))
        x = current_counts[name]
        u = unit_uniform(current.batch_id, metric, name)
        never = total_x <= 0
        p_one = _quasi_upper(x, n_cur, p0, phi * (1.0 + n_cur / total_n), u, never)
        k = min(len(got), s.rate_batches - 1)
        wx, wn = x + float(xs[:k].sum()), n_cur + float(ns[:k].sum())
        p_win = _quasi_upper(wx, wn, p0, phi * (1.0 + wn / total_n), u, never) if k else 1.0
        p = cauchy_combine([p_one, p_win]) if k else p_one
        if k and p_win < p_one:
            out.append(FieldRate(name, p, wx, wn, p0, k + 1))
        else:
            out.append(FieldRate(name, p, x, n_cur, p0, 1))
    return out


def _rate(
    metric: str,
    history: Sequence[BatchPoint],
    current: BatchPoint,
    count: str,
    s: DetectorSettings,
) -> TestResult:
    method = (
        "quasi-binomial on the batch, the last hour and 4 hours (dispersion from history),"
        " and per field on the batch and its last batches"
    )
    cols = columns(history)
    mask = cols.usable(metric) & (cols.records > 0)
    window = cols.window(history, mask)
    xs = (cols.missing if count == "missing_values" else cols.mismatches)[mask]
    ns = cols.cells[mask]
    x, n = float(getattr(current, count)), float(current.records * current.fields)
    if len(xs) < s.min_history:
        return TestResult(
            metric, None, Status.INSUFFICIENT_HISTORY, method, window,
            observed=x / n if n else None, weight=s.weight(metric),
        )  # fmt: skip
    if n <= 0:
        return TestResult(metric, None, Status.INSUFFICIENT_SAMPLE, method, window)
    npx = seasonal.np()
    total_x, total_n = float(xs.sum()), float(ns.sum())
    # Jeffreys-style smoothing: a history of zero defects still has a rate above zero.
    p0 = (total_x + 0.5) / (total_n + 1.0)
    resid = npx.minimum(25.0, (xs - ns * p0) ** 2 / (ns * p0 * (1 - p0)))
    phi = max(1.0, float(resid.mean()))
    u = unit_uniform(current.batch_id, metric)
    never = total_x <= 0
    p_batch = _quasi_upper(x, n, p0, phi * (1.0 + n / max(total_n, 1.0)), u, never)
    all_x = cols.missing if count == "missing_values" else cols.mismatches
    now = current.received_at.timestamp()
    tests, best, prev = [p_batch], (p_batch, x, n, 0), 0
    weights = [RATE_WEIGHTS[0]]
    for span, share in zip((s.rate_window, 4 * s.rate_window), RATE_WEIGHTS[1:], strict=True):
        recent = cols.accepted & (cols.times > now - span)
        k = int(recent.sum())
        if k == prev:
            continue
        prev = k
        wx = x + float(all_x[recent].sum())
        wn = n + float(cols.cells[recent].sum())
        pw = _quasi_upper(wx, wn, p0, phi * (1.0 + wn / max(total_n, 1.0)), u, never)
        tests.append(pw)
        weights.append(share)
        if pw < best[0]:
            best = (pw, wx, wn, k)
    fields = field_rates(metric, history, current, s)
    field = None
    if fields:
        weights = [w * (1.0 - FIELD_WEIGHT) for w in weights]
        p_fields = cauchy_combine([f.p_value for f in fields])
        if p_fields / FIELD_WEIGHT < min(t / w for t, w in zip(tests, weights, strict=True)):
            field = min(fields, key=lambda f: f.p_value)
        tests.append(p_fields)
        weights.append(FIELD_WEIGHT)
    p = cauchy_combine(tests, weights)
    p_win, wx, wn, batches = best
    use_win = batches > 0
    ox, on = (wx, wn) if use_win else (x, n)
    rate = ox / on
    ratio = rate / p0
    z = norm_isf(s.per_test_level(metric))
    high = p0 + z * math.sqrt(phi * p0 * (1 - p0) / n)
    gated = ratio < s.min_rate_ratio or rate - p0 < s.min_rate_delta
    evidence = f"last {batches + 1} batches" if use_win else "batch"
    if field is not None:
        # the evidence is one field's: its effect is gated and graded on that field's rate
        rate, base = field.count / field.trials, field.baseline
        ratio = rate / base
        gated = ratio < s.min_rate_ratio or rate - base < s.min_rate_delta
        evidence = f"field {field.name}" + (
            f", last {field.batches} batches" if field.batches > 1 else ""
        )
    return TestResult(
        metric, None, Status.TESTED, method, window,
        observed=x / n, expected=p0, low=0.0, high=min(1.0, high), direction="high",
        p_value=p, effect=rate - p0, gated=gated, weight=s.weight(metric), strength=ratio,
        details={"count": x, "trials": n, "dispersion": phi, "ratio": ratio,
                 "window": {"count": wx, "trials": wn, "batches": batches + 1,
                            "p_value": p_win} if batches else None,
                 "fields": {f.name: {"p_value": f.p_value, "count": f.count,
                                     "trials": f.trials, "baseline": f.baseline,
                                     "batches": f.batches} for f in fields} or None,
                 "evidence": evidence},
    )  # fmt: skip


def missing_rate(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    return _rate(MISSING, history, current, "missing_values", s)


def format_rate(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    return _rate(FORMAT, history, current, "type_mismatches", s)


# -- arrival timing -------------------------------------------------------------------------


def arrival_gap(
    history: Sequence[BatchPoint], current: BatchPoint, s: DetectorSettings
) -> TestResult:
    """Time since the previous batch against the source's own gaps (late or missing batches).

    Up to the longest past gap the p-value is the gap's rank among them
    (randomised over ties): exact for any law of gaps whose order is
    exchangeable, so a source that is often a little late stays calibrated at
    every level its history can resolve. Beyond the longest, the share left
    (randomised, 1 / (m + 1) at most) is thinned by an exponential tail
    fitted to the excess over the 95th percentile (peaks over threshold), from
    one tail scale past the longest on: a two-hour silence in a 15-minute
    source is far in the tail, while a gap just past the longest counts as
    what it is, the top rank (thinning it at once made p <= 1e-4 about 1.5
    times as frequent as 1e-4 on bounded lateness). Only a gap
    longer than the usual one by at least half a cadence (four minutes at
    least) may alert.
    """
    method = "rank among the source's past gaps, an exponential tail beyond the longest"
    npx = seasonal.np()
    cols = columns(history)
    now = current.received_at.timestamp()
    before = cols.times < now
    window = cols.window(history, before)
    order = npx.argsort(cols.times[before], kind="stable")
    times = cols.times[before][order]
    if len(times) < s.min_history + 1:
        return TestResult(TIMING, None, Status.INSUFFICIENT_HISTORY, method, window)
    flagged = cols.flags[TIMING][before][order]
    gaps = npx.sort(npx.diff(times)[~flagged[1:]])
    last = history[int(npx.flatnonzero(before)[order[-1]])].received_at
    gap = (current.received_at - last).total_seconds()
    m = len(gaps)
    if m < s.min_history:
        return TestResult(TIMING, None, Status.INSUFFICIENT_HISTORY, method, window, observed=gap)
    center = float(npx.median(gaps))
    k = max(10, m // 20)
    thr, top = float(gaps[m - k]), float(gaps[-1])
    scale = max(float((gaps[m - k :] - thr).mean()), 1.0)
    u = unit_uniform(current.batch_id, TIMING)
    below = int(npx.searchsorted(gaps, gap, side="left"))  # past gaps shorter than this one
    if gap > top:
        p = u * math.exp(-max(0.0, gap - top - scale) / scale) / (m + 1)
    else:
        ties = int(npx.searchsorted(gaps, gap, side="right")) - below
        p = (m - below - ties + u * (ties + 1)) / (m + 1)
    # the gap whose p-value reaches the test's level (for the rank, at its worst draw)
    level = s.per_test_level(TIMING)
    if level * (m + 1) >= 1.0:
        high = float(gaps[max(0, m - int(level * (m + 1)))])
    else:
        high = top + scale * (1.0 + math.log(1.0 / (level * (m + 1))))
    extra = gap - center
    return TestResult(
        TIMING, None, Status.TESTED, method, window,
        observed=gap, expected=center, low=0.0, high=high, direction="high",
        p_value=min(1.0, p), effect=extra, gated=extra < max(240.0, 0.5 * center),
        weight=s.weight(TIMING), strength=gap / max(center, 1.0),
        details={"previous": last.isoformat(), "tail_scale": scale, "threshold": thr,
                 "longest": top, "rank": m - below},
    )  # fmt: skip


# -- numeric fields: drift and outliers --------------------------------------------------------


def _reference(
    history: Sequence[BatchPoint],
    name: str,
    key: str,
    need: float,
    s: DetectorSettings,
    leave_out: Sequence[BatchPoint] = (),
) -> tuple[list[histo.Summary], list[BatchPoint]]:
    """The latest usable summaries, enough for `need` values (and at least a minimum of
    batches), without the batches in `leave_out`."""
    sums, used = [], []
    total = 0.0
    skip = {id(p) for p in leave_out}
    for p in reversed(history):
        if not p.accepted or key in p.flagged or id(p) in skip:
            continue
        sm = p.summary(name)
        if sm is None:
            continue
        sums.append(sm)
        used.append(p)
        total += sm.total
        if len(sums) >= s.reference_min_batches and total >= need:
            break
    return sums[::-1], used[::-1]


def _pit(ref: histo.Reference, sm: histo.Summary, own: float = 0.0) -> tuple[float, Any, float]:
    """(chi-square, normal scores, location z) of the batch's order statistics read on the
    reference.

    Under the null the reference CDF at them is a vector of uniform order
    statistics (exact mean and covariance, `pit_moments`); each is turned into
    an exact normal score through its moment-matched Beta law, so small
    batches stay calibrated. `own` is the batch's share of the reference when
    it is part of it: its pull toward itself is undone first.
    """
    return _pits(ref, [sm], [own])[0]


def _pits(
    ref: histo.Reference, sums: Sequence[histo.Summary], owns: Sequence[float] | None = None
) -> list[tuple[float, Any, float]]:
    """`_pit` of many batches on one reference (`owns`: their shares of it, none by
    default), with one call of each array function over all their points: the dispersion
    of a drift test reads up to 144 batches, and per batch the calls' own cost was most of
    the detector's time. Element by element the arithmetic is the same, so the scores are
    too."""
    if not sums:
        return []
    n = seasonal.np()
    points = [sm.points() for sm in sums]
    laws = [
        _pit_law(tuple(float(r) for r in ranks), float(sm.total), float(ref.total))
        for sm, (_, ranks) in zip(sums, points, strict=True)
    ]
    sizes = [len(xs) for xs, _ in points]
    u = ref.cdf(n.array([x for xs, _ in points for x in xs], dtype=float))
    mean = n.concatenate([law.mean for law in laws])
    own = n.repeat(n.asarray(owns if owns is not None else [0.0] * len(sums), dtype=float), sizes)
    pulled = own > 0
    if pulled.any():
        u = n.where(pulled, (u - own * mean) / n.where(pulled, 1.0 - own, 1.0), u)
    # The reference is a finite sample: beyond its extremes its CDF is 0 or 1, yet a
    # new value falls there with probability about 1 / (N + 1). Unclamped, one value
    # under the reference's minimum (a small source's references are small batches)
    # read as u = 0, a normal score of -37 and p = 1e-300.
    edge = 0.5 / (max(ref.total, 1.0) + 1.0)
    u = n.clip(u, edge, 1.0 - edge)
    sp = special()
    a = n.concatenate([law.a for law in laws])
    b = n.concatenate([law.b for law in laws])
    cdf = n.clip(sp.betainc(a, b, n.clip(u, 0.0, 1.0)), 1e-300, 1 - 1e-16)
    scores = n.split(sp.ndtri(cdf), n.cumsum(sizes)[:-1])
    return [
        (float(z @ law.inv @ z), z, float(law.one_inv @ z) / law.one_norm)
        for z, law in zip(scores, laws, strict=True)
    ]


@dataclass(frozen=True)
class _PitLaw:
    """What `_pit` needs that depends only on the batch's ranks and size and the
    reference's size: a drift test reads ~150 batches per field on one reference, most
    of them of a recurring size, so it is computed once per distinct key."""

    mean: Any
    a: Any
    b: Any
    inv: Any
    one_inv: Any
    one_norm: float


@lru_cache(maxsize=8192)
def _pit_law(ranks: tuple[float, ...], size: float, ref_total: float) -> _PitLaw:
    n = seasonal.np()
    mean, cov = histo.pit_moments(ranks, size)
    ref_var = (n.minimum.outer(mean, mean) - n.outer(mean, mean)) / max(ref_total, 1.0)
    cov = cov + ref_var
    sd = n.sqrt(n.maximum(n.diag(cov), 1e-18))
    common = mean * (1 - mean) / sd**2 - 1.0
    a, b = n.maximum(mean * common, 1e-3), n.maximum((1 - mean) * common, 1e-3)
    inv = n.linalg.pinv(cov / n.outer(sd, sd))
    one = n.ones(len(mean))
    one_inv = one @ inv
    for arr in (a, b, inv, one_inv):
        arr.setflags(write=False)
    return _PitLaw(mean, a, b, inv, one_inv, math.sqrt(max(float(one_inv @ one), 1e-12)))


#: reference batches whose own scores give drift's dispersion. Over 24, the location
#: dispersion (a median of 24 squared scores) read anywhere from 1 to 2.4 on batches
#: drawn alike, and a one-sd shift over three night batches of a dozen values went
#: unseen whenever it read high; a mean over 72 reads 1.0-1.3
DISPERSION_BATCHES = 72

#: a squared location score counts at most this much toward the dispersion (a batch
#: that drifted unflagged must not inflate it much; P(chi2_1 > 16) = 6e-5)
LOCATION_CAP = 16.0

#: the location dispersion is never read below this
LOCATION_FLOOR = 0.85

#: Cauchy weights of drift's tests: the location score holds most (a field that moves
#: moves its quantiles together: that is the drift people mean), and the last batches
#: together hold more than the batch alone (a night batch of a dozen values says little
#: alone; a one-sd shift over three of them is about 6 sigma)
DRIFT_LOCATION_SHARE = 0.7
DRIFT_WINDOW_SHARE = 0.7


def drift(
    history: Sequence[BatchPoint], current: BatchPoint, name: str, s: DetectorSettings
) -> TestResult:
    """The batch's order statistics read on the reference CDF (probability integral transform).

    Under the null they are uniform order statistics whatever the field's
    shape (heavy tails, several modes), so their normal scores give an
    omnibus score and a location score (a shift moves them together); both
    are scaled by the dispersion the reference batches show among
    themselves, and the test is run on this batch and on the last
    `drift_window` batches together (small batches add up: their location
    scores pooled with weights sqrt(values)). The batches tested together are
    not part of the reference nor of its dispersion. The omnibus is
    the Cauchy combination of each score's two-sided tail: each score is
    close to normal alone, but a dozen values' interpolated quantiles are far
    from jointly normal, and a chi-square over them put p <= 1e-4 six times
    too often on such batches. The effect size is the PSI between the
    reference and the batch on the bins its order statistics cut.
    """
    n = seasonal.np()
    sp = special()
    key = f"{DRIFT}:{name}"
    method = "reference CDF at the batch's quantiles (PIT: omnibus and location scores)"
    cur = current.summary(name)
    size = cur.total if cur else 0.0
    # the batches tested with this one are left out of the reference and its dispersion:
    # a drift that began a few batches ago must not widen the spread that should catch it
    # (two shifted night batches among 72 raised the location dispersion by a quarter)
    recent: list[BatchPoint] = []
    recent_sums: list[histo.Summary] = []
    for p in reversed(history):
        if len(recent) >= s.drift_window - 1:
            break
        sm = p.summary(name) if p.accepted else None
        if sm is not None and sm.total >= 5 and len(sm.points()[0]) >= 2:
            recent.append(p)
            recent_sums.append(sm)
    sums, used = _reference(history, name, key, max(5000.0, 30.0 * size), s, recent)
    window = _window(used)
    if len(sums) < s.min_history:
        return TestResult(DRIFT, name, Status.INSUFFICIENT_HISTORY, method, window)
    if cur is None or size < 5 or len(cur.points()[0]) < 2:
        return TestResult(
            DRIFT, name, Status.INSUFFICIENT_SAMPLE, method, window,
            details={"batch_values": size},
        )  # fmt: skip
    ref = histo.Reference(sums)
    # dispersion: the same scores of the latest reference batches; the location score's
    # against the other half of the reference (held out: a batch read on a reference
    # that holds it, even with its pull undone, overstated the spread of a new batch's
    # score, whose null sd is nearer 0.9 than 1)
    halves = [histo.Reference(sums[k::2]) for k in (0, 1)]
    first = max(0, len(sums) - DISPERSION_BATCHES)
    ks = [
        k for k in range(first, len(sums)) if sums[k].total >= 5 and len(sums[k].points()[0]) >= 2
    ]
    own = [sums[k].total / ref.total for k in ks]
    chis = [
        c / float(sp.chdtri(len(zs), 0.5)) for c, zs, _ in _pits(ref, [sums[k] for k in ks], own)
    ]
    # each batch's location score against the half of the reference it is not in
    loc_of: dict[int, float] = {}
    for half in (0, 1):
        mine = [k for k in ks if k % 2 != half]
        scored_half = _pits(halves[half], [sums[k] for k in mine])
        loc_of.update((k, lz) for k, (_, _, lz) in zip(mine, scored_half, strict=True))
    locs = [min(loc_of[k] * loc_of[k], LOCATION_CAP) for k in ks]  # summed in the batches' order
    phi_chi = max(1.0, median(chis)) if chis else 1.0
    phi_loc = max(LOCATION_FLOOR, sum(locs) / len(locs)) if locs else 1.0
    groups = [[cur]] if size >= s.drift_min_sample else []
    if recent_sums:
        groups.append([cur, *recent_sums])
    if not groups:
        return TestResult(
            DRIFT, name, Status.INSUFFICIENT_SAMPLE, method, window,
            details={"batch_values": size},
        )  # fmt: skip
    scored = _pits(ref, groups[-1])
    tests: list[float] = []
    weights: list[float] = []
    for group in groups:
        got = scored[: len(group)]
        zs = n.concatenate([z for _, z, _ in got])
        # the batches' location scores weighted by the square root of their values, as
        # z-scores are pooled: a batch of 200 values says more than one of 12
        ws = [math.sqrt(sm.total) for sm in group]
        loc = sum(w * lz for w, (_, _, lz) in zip(ws, got, strict=True))
        loc /= math.sqrt(sum(w * w for w in ws))
        p_chi = cauchy_combine((2.0 * sp.ndtr(-n.abs(zs) / math.sqrt(phi_chi))).tolist())
        p_loc = 2.0 * norm_sf(abs(loc) / math.sqrt(phi_loc))
        share = DRIFT_WINDOW_SHARE if len(group) > 1 else 1.0 - DRIFT_WINDOW_SHARE
        tests += [p_chi, p_loc]
        weights += [share * (1.0 - DRIFT_LOCATION_SHARE), share * DRIFT_LOCATION_SHARE]
    p = cauchy_combine(tests, weights)
    xs, ranks = cur.points()
    u = ref.cdf(n.array(xs))
    ref_sh = n.diff(n.concatenate([[0.0], u, [1.0]]))
    bat_sh = n.diff(n.concatenate([[0.0], n.array(ranks) / (size + 1.0), [1.0]]))
    value = histo.psi(ref_sh.tolist(), bat_sh.tolist())
    return TestResult(
        DRIFT, name, Status.TESTED, method, window,
        observed=value, expected=0.0, low=0.0, high=s.psi_threshold, direction="high",
        p_value=p, effect=value, gated=value < s.psi_threshold, weight=s.weight(DRIFT),
        strength=value,
        details={"batch_values": size, "reference_values": ref.total,
                 "reference_batches": len(sums), "dispersion": phi_chi,
                 "location_dispersion": phi_loc, "location_score": scored[0][2],
                 "window_batches": len(recent) + 1,
                 "points": xs, "reference_cdf_at_points": u.tolist()},
    )  # fmt: skip


def outliers(
    history: Sequence[BatchPoint], current: BatchPoint, name: str, s: DetectorSettings
) -> TestResult:
    """Values the batch certainly has beyond the reference's [q, 1 - q] range.

    "Certainly": whole histogram bins beyond the range, the min and max, and
    quantile ranks, so the count never depends on how values spread inside a
    bin. The baseline share is the same count over the reference batches,
    the dispersion their Pearson residuals (winsorised), the tail a
    randomised quasi-binomial; an excess must reach `min_rate_ratio` times
    the baseline share.
    """
    key = f"{OUTLIERS}:{name}"
    method = "values certainly outside the reference range [q0.001, q0.999], quasi-binomial"
    cur = current.summary(name)
    size = cur.total if cur else 0.0
    sums, used = _reference(history, name, key, max(5000.0, 30.0 * size), s)
    window = _window(used)
    if len(sums) < s.min_history:
        return TestResult(OUTLIERS, name, Status.INSUFFICIENT_HISTORY, method, window)
    if cur is None or size < 5:
        return TestResult(OUTLIERS, name, Status.INSUFFICIENT_SAMPLE, method, window)
    ref = histo.Reference(sums)
    lo = ref.quantile(s.outlier_quantile)
    hi = ref.quantile(1 - s.outlier_quantile)

    def outside(sm: histo.Summary) -> float:
        return sm.certainly_below(lo) + sm.certainly_above(hi)

    counts = [(outside(sm), sm.total) for sm in sums]
    m = sum(t for _, t in counts)
    p0 = (sum(c for c, _ in counts) + 0.5) / (m + 1.0)
    resid = [min(100.0, (c - t * p0) ** 2 / (t * p0 * (1 - p0))) for c, t in counts]
    # Certain counts come in lumps (a whole bin beyond the range): the dispersion is
    # their Pearson residuals' mean, clipped only far out, and raised by its own
    # sampling error over a few dozen batches (an estimate that happens low would
    # make the far tail liberal; a fixed floor of 2 made it 2-5x conservative).
    phi = max(1.0, sum(resid) / len(resid)) * (1.0 + math.sqrt(2.0 / len(resid)))
    phi *= 1.0 + size / m
    x = outside(cur)
    p = _quasi_upper(x, size, p0, phi, unit_uniform(current.batch_id, key))
    ratio = (x / size) / p0
    return TestResult(
        OUTLIERS, name, Status.TESTED, method, window,
        observed=x / size, expected=p0, low=lo, high=hi, direction="high", p_value=p,
        effect=x / size - p0, gated=ratio < s.min_rate_ratio or x / size - p0 < s.min_rate_delta,
        weight=s.weight(OUTLIERS), strength=ratio,
        details={"outside": x, "values": size, "range": [lo, hi], "dispersion": phi},
    )  # fmt: skip
