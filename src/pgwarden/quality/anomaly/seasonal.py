"""The expected record count of a batch, and its predictive spread (pure, numpy).

Counts are Poisson-like (the variance grows with the mean) and follow the
source's local week, so the model is multiplicative, fitted on the history
with earlier volume anomalies left out and the batch under test never in it:

    expected = level(t) x shape[day type, slot of day] x weekday[d] x cell[d, slot]
               x (gap / cadence) ** beta  (+ the neighbour term, below)

- Slots have the batch cadence's resolution (5, 10, 15, 20, 30 or 60
  minutes). A batch is placed at the middle of the interval it covers
  (received time minus half the cadence, at most 30 minutes), so a batch
  received at 00:00 counts toward 23:45-24:00 of the day before, and
  arrival jitter around a slot boundary does not move it.
- Weekdays and weekend days have their own daily shape, each slot read on
  its neighbours too where the day is straight there (Lepski's rule: the
  widest symmetric window whose ratio agrees with every narrower one's), so
  a slot's expected count rests on hundreds of points, not on 8 weekend days,
  while a business-hours edge keeps its own slots; each day of the week
  its own level; each slot of the week (`cell`) its own deviation from
  that, shrunk toward 1 by empirical Bayes (the between-cell variance
  against each cell's sampling noise), so a business-hours day, a night
  shift or a Saturday peak are followed where the history supports them and
  smoothed where it is thin.
- The level is a weighted linear trend of the de-seasonalised days (once
  the history spans two weeks), extrapolated to the batch: a +30 % growth
  over two months is followed instead of lagging half the window.
- Time is the source's local time: the zone passed in, or one learned from
  the history among common zones (whose DST rule shifts the profile twice a
  year) when it fits decisively better (`learn_zone`).
- Where batches are not regular, counts are modelled per time window: the
  count grows with the time since the previous batch as (gap / cadence) **
  beta (beta learned; 1 for counts flushed on a timer, 0 for late batches
  that still carry their own slot), and a learned lag-one correlation of the
  standardised residuals (negative when one flush's records spill into the
  next batch) conditions the count on its predecessor.
- The spread is negative binomial, variance = mu + alpha mu^2, alpha from
  the leave-one-out-corrected residuals (winsorised at 5: at 3 the skewed
  residuals of an over-dispersed source overstated alpha by a third), plus
  the estimate's own variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

DAY = 86400.0
WEEK = 7 * DAY
SLOTS = (5, 10, 15, 20, 30, 60)  # minutes
CLIP_Z = 5.0
WINDOW = 3  # batches: a volume change is also tested over the last 2 and 3 batches together
#: E[min(Z^2, 25)] for a standard normal Z: the target of the winsorised variance (clipping
#: at 5 bounds a missed anomaly's pull without biasing skewed negative-binomial residuals)
_CLIPPED_VAR = (
    math.erf(CLIP_Z / math.sqrt(2.0))
    - 2.0 * CLIP_Z * math.exp(-CLIP_Z * CLIP_Z / 2.0) / math.sqrt(2.0 * math.pi)
    + CLIP_Z * CLIP_Z * math.erfc(CLIP_Z / math.sqrt(2.0))
)
#: zones tried when the source's own is learned (one per DST rule and offset in common use)
ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
#: Gauss-Newton steps on the gap exponent after its first (linearised) estimate
GAP_STEPS = 2
ZONE_EVIDENCE = 30.0  # deviance units (per unit of dispersion) a learned zone must win by


@cache
def np() -> Any:
    import numpy

    return numpy


@dataclass(frozen=True)
class VolumeFit:
    expected: float
    variance: float  # predictive variance of the count
    alpha: float  # negative-binomial overdispersion (0 = Poisson)
    relative_error: float  # relative variance of the expected value itself
    seasonality: str
    zone: str
    slot_minutes: int
    cadence: float  # seconds, median gap between batches
    beta: float  # count ~ (gap / cadence) ** beta
    neighbour: float  # lag-one correlation of standardised residuals used
    points: int
    #: the part of relative_error every slot shares (level, weekday factor)
    shared_error: float = 0.0
    #: the batch's mean and noise variance before conditioning on its predecessor
    plain_expected: float = 0.0
    plain_variance: float = 0.0
    #: (count, mean, noise variance) of the batches just before, newest first
    recent: tuple[tuple[float, float, float], ...] = ()

    def window(self, x: float, size: int) -> tuple[float, float, float] | None:
        """(count, mean, variance) of this batch and the `size - 1` before it together.

        The variance has the lag-one covariance of neighbours and the estimate's
        own error: the slots' own parts independent, the level's shared; None
        when the batches before are not all usable.
        """
        if size < 2 or len(self.recent) < size - 1:
            return None
        parts = [(x, self.plain_expected, self.plain_variance), *self.recent[: size - 1]]
        total = sum(p[0] for p in parts)
        mean = sum(p[1] for p in parts)
        var = sum(p[2] for p in parts)
        for a, b in zip(parts, parts[1:], strict=False):
            var += 2.0 * self.neighbour * math.sqrt(a[2] * b[2])
        slot = self.relative_error - self.shared_error
        var = max(var, 1e-9) + sum(p[1] ** 2 for p in parts) * slot
        var += mean * mean * self.shared_error
        return total, mean, var


def cadence_of(times: Any) -> float:
    """Median gap between consecutive batches in seconds (at least one)."""
    n = np()
    if len(times) < 2:
        return 3600.0
    return max(1.0, float(n.median(n.diff(times))))


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def _offset(tz: tzinfo, sec: float) -> float:
    off = datetime.fromtimestamp(sec, UTC).astimezone(tz).utcoffset()
    return off.total_seconds() if off is not None else 0.0


def offsets(tz: tzinfo, secs: Any) -> Any:
    """UTC offset (seconds) of `tz` at each of `secs`, finding transitions by bisection."""
    n = np()
    lo, hi = float(secs.min()), float(secs.max())
    probes = [*n.arange(lo, hi, DAY / 2).tolist(), hi]
    offs = [_offset(tz, p) for p in probes]
    out = n.full(secs.shape, offs[0], dtype=float)
    for k in range(1, len(probes)):
        if offs[k] == offs[k - 1]:
            continue
        a, b = probes[k - 1], probes[k]
        while b - a > 1.0:
            mid = (a + b) / 2
            if _offset(tz, mid) == offs[k - 1]:
                a = mid
            else:
                b = mid
        out[secs >= b] = offs[k]
    return out


@dataclass(frozen=True)
class _Layout:
    slot_sec: float
    per_day: int
    sod: Any  # slot of day
    dow: Any  # 0 = Monday
    day: Any  # local day index
    wkend: Any  # 0 weekday, 1 weekend


def _layout(mids: Any, offs: Any, slot_sec: float) -> _Layout:
    n = np()
    local = mids + offs
    day = n.floor(local / DAY)
    sod = n.floor((local - day * DAY) / slot_sec).astype(int)
    dow = ((day.astype(int) + 3) % 7).astype(int)  # 1970-01-01 was a Thursday
    per_day = int(round(DAY / slot_sec))
    return _Layout(slot_sec, per_day, n.minimum(sod, per_day - 1), dow, day, (dow >= 5).astype(int))


def _means(keys: Any, num: Any, den: Any, size: int) -> tuple[Any, Any]:
    n = np()
    s_num = n.bincount(keys, weights=num, minlength=size)
    s_den = n.bincount(keys, weights=den, minlength=size)
    ratio = n.where(s_den > 0, s_num / n.where(s_den > 0, s_den, 1.0), n.nan)
    return ratio, n.bincount(keys, minlength=size)


#: records a slot's shape needs before it stands alone; below, neighbouring slots are pooled
MIN_POOLED = 20.0
_HALF_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 144)


def _pooled(sx: Any, sb: Any, sn: Any) -> tuple[Any, Any]:
    """(shape, points behind it) per day type and slot: its own ratio of counts to base
    where it holds `MIN_POOLED` records, else that of the narrowest window of neighbouring
    slots (wrapping round midnight) that does.

    A quiet slot (a weekend night at 0.2 records a batch) has no records in most of its
    few points; its own ratio would put the expected count at zero and make one record
    impossible. Busy slots keep their own value, so a sharp business-hours edge stays sharp.
    """
    n = np()
    shape = n.where(sb > 0, sx / n.where(sb > 0, sb, 1.0), n.nan)
    eff = sn.copy()
    todo = ~(sx >= MIN_POOLED) | n.isnan(shape)
    pd = sx.shape[1]
    for h in _HALF_WIDTHS:
        if not todo.any() or 2 * h + 1 > pd:
            break
        kernel = n.ones(2 * h + 1)
        wx, wb, wn = (
            n.array([n.convolve(n.concatenate([a[k, -h:], a[k], a[k, :h]]), kernel, "valid")
                     for k in range(a.shape[0])])
            for a in (sx, sb, sn)
        )  # fmt: skip
        ok = todo & (wx >= MIN_POOLED) & (wb > 0)
        shape = n.where(ok, wx / n.where(wb > 0, wb, 1.0), shape)
        eff = n.where(ok, wn, eff)
        todo &= ~ok
    if todo.any():  # a whole day type short of records: its mean
        tx, tb = sx.sum(axis=1, keepdims=True), sb.sum(axis=1, keepdims=True)
        whole = n.where(tb > 0, tx / n.where(tb > 0, tb, 1.0), n.nan)
        shape = n.where(todo, n.broadcast_to(whole, shape.shape), shape)
        eff = n.where(todo, n.broadcast_to(sn.sum(axis=1, keepdims=True), eff.shape), eff)
    return shape, eff


#: a busy slot's shape pools its neighbours (these half-widths, in slots) while the wider
#: window's ratio stays within `SMOOTH_Z` standard errors of each narrower one's
SMOOTH_HALF_WIDTHS = (1, 2, 3, 4, 6, 8, 12)
SMOOTH_Z = 2.0


def _wrapped(a: Any, h: int) -> Any:
    """Sums over each slot's window of half-width `h`, per day type (wrapping round midnight)."""
    n = np()
    ext = n.concatenate([a[:, a.shape[1] - h :], a, a[:, :h]], axis=1)
    c = n.concatenate([n.zeros((a.shape[0], 1)), n.cumsum(ext, axis=1)], axis=1)
    return c[:, 2 * h + 1 :] - c[:, : c.shape[1] - 2 * h - 1]


def _smoothed(sx: Any, sb: Any, sq: Any, sn: Any, shape: Any, eff: Any, alone: Any,
              alpha: float) -> tuple[Any, Any]:  # fmt: skip
    """The shape of the slots that stand alone (`alone`), pooled with their neighbours
    where the profile is locally straight (Lepski's rule).

    A slot's own ratio rests on one point a day of its type (20 weekdays, 8 weekend days
    in four weeks), and its error is the expected count's: a sixth of the null's own
    variance on a weekend slot, which widens the spread and costs a third of the 5-sigma
    spikes a test knowing the mean finds. A symmetric window's ratio has no error from a
    linear slope; it is taken, for each half-width in turn, while it differs from every
    narrower window's by at most `SMOOTH_Z` standard errors of their difference (nested
    windows: the narrower's variance less the wider's), so a flat or sloping stretch is
    read on many slots and a business-hours edge (a bend) keeps its own.
    `sq` is the sum of squared base values (the negative binomial's alpha part).
    """
    n = np()
    pd = sx.shape[1]

    def variance(wx: Any, wb: Any, wq: Any) -> Any:
        r = n.maximum(wx / n.where(wb > 0, wb, 1.0), 1e-9)
        return (r * wb + alpha * r * r * wq) / n.maximum(wb * wb, 1e-18)

    seen = [(shape, variance(sx, sb, sq))]
    open_ = alone & (sb > 0)
    for h in SMOOTH_HALF_WIDTHS:
        if not open_.any() or 2 * h + 1 > pd:
            break
        wx, wb, wq, wn = (_wrapped(a, h) for a in (sx, sb, sq, sn))
        est = wx / n.where(wb > 0, wb, 1.0)
        var = variance(wx, wb, wq)
        ok = open_ & (wb > 0)
        for e0, v0 in seen:
            ok &= n.abs(est - e0) <= SMOOTH_Z * n.sqrt(n.maximum(v0 - var, 0.0))
        shape = n.where(ok, est, shape)
        eff = n.where(ok, wn, eff)
        open_ = ok  # a window that bends stops the widening there
        seen.append((est, var))
    return shape, eff


@dataclass
class _Fit:
    mu: Any  # fitted means at the history points
    shape: Any  # (2, per_day)
    weekday: Any  # (7,)
    cell: Any  # (7 * per_day,)
    cell_weight: Any
    counts_shape: Any
    counts_cell: Any
    level_a: float
    level_b: float  # per day, relative to the reference time
    level_var: float
    t_ref: float
    use_week: bool
    use_trend: bool


def _fit(x: Any, lay: _Layout, secs: Any, t_ref: float, span_days: float, alpha: float,
         cells: bool, off: Any = None) -> _Fit:  # fmt: skip
    """The multiplicative model fitted to counts `x`; `off` is a known factor per point
    (the gap term of counts flushed on a timer), 1 when None."""
    n = np()
    off = n.ones(x.shape) if off is None else off
    pd = lay.per_day
    use_week = span_days >= 14.0
    use_trend = span_days >= 14.0
    level = n.full(x.shape, max(float(x.mean()), 1e-9))
    weekday = n.ones(7)
    cell = n.ones(7 * pd)
    cell_w = n.zeros(7 * pd)
    shape = n.ones((2, pd))
    type_key = lay.wkend * pd + lay.sod
    week_key = lay.dow * pd + lay.sod
    cnt_shape = n.bincount(type_key, minlength=2 * pd)
    eff = cnt_shape.reshape(2, pd).astype(float)
    cnt_cell = n.bincount(week_key, minlength=7 * pd)
    a, b, level_var = float(level[0]), 0.0, 0.0
    tdays = (secs - t_ref) / DAY
    for _ in range(3):
        base = level * weekday[lay.dow] * cell[week_key] * off
        sx = n.bincount(type_key, weights=x, minlength=2 * pd).reshape(2, pd)
        sb = n.bincount(type_key, weights=base, minlength=2 * pd).reshape(2, pd)
        sn = cnt_shape.reshape(2, pd).astype(float)
        raw, eff = _pooled(sx, sb, sn)
        alone = (sx >= MIN_POOLED) & ~n.isnan(raw)
        sq = n.bincount(type_key, weights=base * base, minlength=2 * pd).reshape(2, pd)
        raw, eff = _smoothed(sx, sb, sq, sn, raw, eff, alone, alpha)
        for k in (0, 1):
            if n.all(n.isnan(raw[k])):
                raw[k], eff[k] = raw[1 - k], eff[1 - k]
        raw = n.where(n.isnan(raw), 1.0, raw)
        shape = n.maximum(raw, 1e-6)
        if use_week:
            base = level * shape[lay.wkend, lay.sod] * cell[week_key] * off
            w, _c = _means(lay.dow, x, base, 7)
            w = n.where(n.isnan(w), 1.0, w)
            for group in ((0, 1, 2, 3, 4), (5, 6)):
                g = list(group)
                w[g] = w[g] / w[g].mean()
            weekday = n.maximum(w, 1e-6)
        if cells and use_week:
            base = level * shape[lay.wkend, lay.sod] * weekday[lay.dow] * off
            r, c = _means(week_key, x, base, 7 * pd)
            mbar, _c = _means(week_key, base, n.ones_like(base), 7 * pd)
            ok = (c >= 2) & ~n.isnan(r)
            noise = n.where(
                ok, (1.0 / n.maximum(n.nan_to_num(mbar), 1e-9) + alpha) / n.maximum(c, 1), n.inf
            )
            dev = n.where(ok, n.nan_to_num(r) - 1.0, 0.0)
            if ok.sum() > 10:
                tau2 = max(0.0, float(n.mean(dev[ok] ** 2) - n.mean(noise[ok])))
            else:
                tau2 = 0.0
            cell_w = n.where(ok, tau2 / (tau2 + noise), 0.0)
            cell = n.maximum(1.0 + cell_w * dev, 1e-6)
        season = shape[lay.wkend, lay.sod] * weekday[lay.dow] * cell[week_key] * off
        # level: weighted least squares over local days of sum(x) / sum(season)
        days, inv = n.unique(lay.day, return_inverse=True)
        sx = n.bincount(inv, weights=x)
        ss = n.bincount(inv, weights=season)
        st = n.bincount(inv, weights=tdays) / n.bincount(inv)
        keep = ss > 0
        ratio = sx[keep] / ss[keep]
        wts = ss[keep]
        tt = st[keep]
        wsum = float(wts.sum())
        tm = float(n.average(tt, weights=wts)) if wsum > 0 else 0.0
        rm = float(n.average(ratio, weights=wts)) if wsum > 0 else 1.0
        sxx = float(n.sum(wts * (tt - tm) ** 2))
        if use_trend and keep.sum() >= 7 and sxx > 0:
            b = float(n.sum(wts * (tt - tm) * (ratio - rm)) / sxx)
        else:
            b = 0.0
        a = rm - b * tm
        # Var(ratio of a day) ~ s2 / weight of the day; the line's variance at t = 0
        dof = max(1, len(wts) - (2 if b else 1))
        s2 = float(n.sum(wts * (ratio - (a + b * tt)) ** 2)) / dof
        level_var = s2 / max(wsum, 1e-9) + (s2 * tm * tm / sxx if b and sxx > 0 else 0.0)
        a = max(a, 1e-9)
        level = n.maximum(a + b * tdays, 1e-9 * a)
    mu = level * shape[lay.wkend, lay.sod] * weekday[lay.dow] * cell[week_key] * off
    return _Fit(mu, shape, weekday, cell, cell_w, eff.reshape(-1), cnt_cell, a, b, level_var,
                t_ref, use_week, use_trend)  # fmt: skip


def dispersion(x: Any, mu: Any, lev: Any | float = 0.0) -> float:
    """alpha such that (x - mu) / sqrt(mu + alpha mu^2), leave-one-out scaled, has unit
    winsorised variance (alpha = 0 when even Poisson is too wide)."""
    n = np()
    ok = mu > 0
    x, mu = x[ok], mu[ok]
    lev = n.broadcast_to(n.asarray(lev, dtype=float), ok.shape)[ok]
    if x.size == 0:
        return 0.0
    r2 = (x - mu) ** 2 / n.maximum(1.0 - n.minimum(lev, 0.9), 0.1)
    c2 = CLIP_Z * CLIP_Z

    def spread(al: float) -> float:
        return float(n.mean(n.minimum(c2, r2 / (mu + al * mu * mu))))

    if spread(0.0) <= _CLIPPED_VAR:
        return 0.0
    lo, hi = 0.0, 1.0
    while spread(hi) > _CLIPPED_VAR and hi < 1e6:
        hi *= 4.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if spread(mid) > _CLIPPED_VAR:
            lo = mid
        else:
            hi = mid
    return hi


def _zone_deviance(x: Any, mids: Any, secs: Any, t_ref: float, span: float, tz: tzinfo,
                   slot_sec: float) -> tuple[float, int]:  # fmt: skip
    """Pearson deviance of the day-type x weekday model (no cells) in zone `tz`."""
    n = np()
    lay = _layout(mids, offsets(tz, mids), slot_sec)
    f = _fit(x, lay, secs, t_ref, span, 0.0, cells=False)
    mu = n.maximum(f.mu, 0.5)
    return float(n.sum((x - mu) ** 2 / mu)), 2 * lay.per_day + 9


def _weekly_offset(x: Any, mids: Any) -> int:
    """The whole-hour UTC offset that best aligns the weekly profile with local days.

    The profile by UTC hour of the week is rotated by each offset, and the
    rows of weekdays (and of weekend days) are compared after normalising:
    at the right offset each group shares one daily shape.
    """
    n = np()
    how = ((n.floor(mids / 3600.0) + 72) % 168).astype(int)  # 1970-01-01 was a Thursday
    c = n.bincount(how, minlength=168)
    prof = n.bincount(how, weights=x, minlength=168) / n.maximum(c, 1)
    best, best_score = 0, math.inf
    for o in range(-11, 15):
        rows = n.roll(prof, o).reshape(7, 24)
        score = 0.0
        for grp in (rows[:5], rows[5:]):
            tot = grp.sum(axis=1, keepdims=True)
            norm = grp / n.maximum(tot, 1e-9)
            shape = norm.mean(axis=0)
            score += float((tot * (norm - shape) ** 2 / n.maximum(shape, 1e-9)).sum())
        if score < best_score - 1e-9:
            best, best_score = o, score
    return best


def learn_zone(x: Any, mids: Any, secs: Any, t_ref: float, span: float, given: tzinfo,
               slot_sec: float, zones: tuple[str, ...] = ZONES) -> tzinfo:  # fmt: skip
    """The zone whose local week explains the counts best, or `given` unless one wins clearly.

    The model compared is the day-type x weekday one (no per-cell freedom): a
    wrong UTC offset puts the weekend boundary off local midnight, and a wrong
    DST rule shifts the daily shape by an hour for part of the history.
    """
    n = np()
    best_off = _weekly_offset(x, mids)
    # a zone qualifies if its offset over most of the history is the one the week shows
    middle = float(n.median(mids))
    zones = tuple(z for z in zones if round(_offset(ZoneInfo(z), middle) / 3600) == best_off)
    if not zones:
        return given
    base, k = _zone_deviance(x, mids, secs, t_ref, span, given, slot_sec)
    scale = max(base / max(1, len(x) - k), 1e-9)
    best, best_dev = given, base
    seen = {tuple(offsets(given, n.array([mids[0], mids[-1], t_ref])).tolist())}
    for name in zones:
        tz = ZoneInfo(name)
        sig = tuple(offsets(tz, n.array([mids[0], mids[-1], t_ref])).tolist())
        if sig in seen:
            continue
        seen.add(sig)
        dev, _k = _zone_deviance(x, mids, secs, t_ref, span, tz, slot_sec)
        if dev < best_dev:
            best, best_dev = tz, dev
    if best is not given and (base - best_dev) / scale >= ZONE_EVIDENCE:
        return best
    return given


def fit_volume(
    times: Any,
    counts: Any,
    usable: Any,
    at: float,
    tz: tzinfo,
    *,
    min_points: int,
    learn: bool = True,
    zones: tuple[str, ...] = ZONES,
) -> VolumeFit | None:
    """The expected count of a batch received at `at` (epoch seconds), or None if too little.

    `times` (sorted epoch seconds) and `counts` are every earlier batch of the
    source; `usable` marks those the baseline may use (accepted, not flagged).
    """
    n = np()
    if usable.sum() < min_points:
        return None
    cad = cadence_of(times)
    secs = times[usable]
    x = counts[usable].astype(float)
    span = (at - float(secs.min())) / DAY
    if span < 2.0:
        return None
    slot_min = max((m for m in SLOTS if m * 60 <= cad * 1.01), default=SLOTS[0])
    slot_sec = slot_min * 60.0
    half = min(cad, 3600.0) / 2
    mids = secs - half
    if x.mean() <= 0:
        return VolumeFit(0.0, 0.0, 0.0, 0.0, "none", zone_name(tz), slot_min, cad, 0.0, 0.0, len(x))
    zone = learn_zone(x, mids, secs, at, span, tz, slot_sec, zones) if learn and span >= 7 else tz
    lay = _layout(mids, offsets(zone, mids), slot_sec)
    here = _layout(n.array([at - half]), offsets(zone, n.array([at - half])), slot_sec)
    if span >= 7 and lay.wkend.min() == lay.wkend.max() and here.wkend[0] != lay.wkend[0]:
        return None  # no weekend (or weekday) in the history yet
    f = _fit(x, lay, secs, at, span, 0.0, cells=True)
    pd = lay.per_day
    type_key = lay.wkend * pd + lay.sod
    week_key = lay.dow * pd + lay.sod

    def leverage(f: _Fit) -> Any:
        return 1.0 / n.maximum(f.counts_shape[type_key], 1.0) + f.cell_weight[week_key] / n.maximum(
            f.counts_cell[week_key], 1
        )

    # The first fit takes the counts as Poisson, so its cells soak up the extra
    # variance and their leverage is high; alpha is taken again from the
    # refit's own leverage (the first one's overstated it by up to a third).
    alpha = dispersion(x, f.mu, leverage(f))
    for _ in range(2):
        f = _fit(x, lay, secs, at, span, alpha, cells=True)
        lev = leverage(f)
        alpha = dispersion(x, f.mu, lev)
    mu = f.mu
    # counts per time window: gap exponent and neighbour correlation
    gaps = n.diff(times, prepend=times[0] - cad)[usable]
    g = n.log(n.clip(gaps / cad, 0.05, 20.0))
    beta = 0.0
    var = mu + alpha * mu * mu
    if g.std() > 0.02:
        w = mu * mu / var
        rel = x / n.maximum(mu, 1e-9) - 1.0
        sgg = float(n.sum(w * g * g))
        est = float(n.sum(w * g * rel)) / sgg if sgg > 0 else 0.0
        se = 1.0 / math.sqrt(sgg) if sgg > 0 else math.inf
        if est / se > 3.0:
            beta = min(1.5, max(0.0, est))
    if beta > 0:
        # refit with the gap term known, so the slot shape and cells do not soak up gap
        # noise. The slope of x / mu - 1 on log(gap) is a linearisation (exp(g) - 1 on g
        # reads 0.91 where counts are proportional to a gap jittered by +-30 %): Gauss-
        # Newton steps on each refit's residuals take it to the exponent itself
        for step in range(GAP_STEPS + 1):
            f = _fit(x, lay, secs, at, span, alpha, cells=True, off=n.exp(beta * g))
            mu = f.mu
            if step == GAP_STEPS:
                break
            w = mu * mu / (mu + alpha * mu * mu)
            rel = x / n.maximum(mu, 1e-9) - 1.0
            sgg = float(n.sum(w * g * g))
            beta = min(1.5, max(0.0, beta + float(n.sum(w * g * rel)) / max(sgg, 1e-12)))
        lev = leverage(f)
        alpha = dispersion(x, mu, lev)
        var = mu + alpha * mu * mu
    e = (x - mu) / n.sqrt(n.maximum(var, 1e-12))
    idx = n.flatnonzero(usable)
    pos = {int(idx[-1]): len(idx) - 1} if len(idx) else {}
    js = n.flatnonzero(n.diff(idx) == 1) + 1  # j whose predecessor is the batch just before
    pairs = list(zip((js - 1).tolist(), js.tolist(), strict=True))
    phi = 0.0
    if len(pairs) > 50:
        a_, b_ = n.array(pairs).T
        ea, eb = n.clip(e[a_], -CLIP_Z, CLIP_Z), n.clip(e[b_], -CLIP_Z, CLIP_Z)
        est = float(n.sum(ea * eb) / max(float(n.sum(ea * ea)), 1e-9))
        if abs(est) * math.sqrt(len(pairs)) > 3.0:
            phi = max(-0.9, min(0.9, est))
    # prediction
    hk = int(here.wkend[0] * pd + here.sod[0])
    wk = int(here.dow[0] * pd + here.sod[0])
    level = max(f.level_a, 1e-9)
    expected = level * float(f.shape.reshape(-1)[hk] * f.weekday[here.dow[0]] * f.cell[wk])
    gap_now = max(at - float(times[-1]), 1.0)
    if beta > 0:
        expected *= math.exp(beta * math.log(min(max(gap_now / cad, 0.05), 20.0)))
    expected = max(expected, 1e-9)
    unit = 1.0 / expected + alpha
    # relative variance of the expected value: the slot's own estimates (shape,
    # cell), then the parts every slot shares (the level line, the weekday
    # factor, each from about a seventh of the history)
    slot_err = unit * (1.0 / max(float(f.counts_shape[hk]), 1.0) + float(f.cell_weight[wk]) /
                       max(int(f.counts_cell[wk]), 1))  # fmt: skip
    shared_err = f.level_var / level**2 if level > 0 else 0.0
    shared_err += unit * 7.0 / max(len(x), 1)
    rel_err = slot_err + shared_err
    variance = expected + alpha * expected * expected
    # the batches just before, for the window tests: (count, mean, noise variance)
    last = len(times) - 1
    recent: list[tuple[float, float, float]] = []
    j = len(idx) - 1
    for k in range(last, max(last - WINDOW, -1), -1):
        if j < 0 or int(idx[j]) != k:
            break  # not usable (flagged, rejected): the window stops there
        recent.append((float(x[j]), float(mu[j]), float(var[j])))
        j -= 1
    window = (expected, variance, tuple(recent))
    if phi != 0.0 and usable[last] and last in pos:
        j = pos[last]
        expected = max(1e-9, expected + phi * float(e[j]) * math.sqrt(variance))
        variance *= 1.0 - phi * phi
    variance += expected * expected * rel_err
    label = "slot-of-week (day type x weekday x shrunk cell)" if f.use_week else "slot-of-day"
    if f.use_trend:
        label += " x trend"
    return VolumeFit(expected, variance, alpha, rel_err, label, zone_name(zone), slot_min, cad,
                     beta, phi, len(x), shared_err, window[0], window[1], window[2])  # fmt: skip
