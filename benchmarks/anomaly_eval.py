"""Evaluate the anomaly detectors on a broad family of streams, at 5- and 15-minute cadence.

Each null family below is simulated for a warm-up of 28 days and then
evaluated batch by batch through the public function the pipeline uses,
`evaluate(history, point, UTC, settings_from(None))`, with the history built
as `store.read_history` builds it (the last 28 days; field summaries only on
the latest 168 accepted batches) and earlier anomalies flagged and left out
of later baselines, as in production. Every anomaly there is a false one.

Null families (issue 17's table, and the field and timing shapes with them):
business-hours day + weekly cycle with weekends at 30 %; the same with a
weekend of its own shape; negative binomial counts k = 6 with a lognormal
field; k = 20; a +30 % trend over two months with 24 fields; batches 2-3
minutes late at random with a 0.1 % missing rate; a 15 % missing rate; a
multi-modal field; Berlin wall-clock traffic across a DST change with the
detector on UTC; counts flushed on a jittered timer; and two shapes the
detectors were not tuned on: a small bursty source (k = 3, zero batches in
its quiet hours), a flat source that doubles over two months, and flushes
that spill a random share (up to 40 %) of a window's records into the next
batch. The 24-field family has a baseline of wrong-type values (0.05 %), so
a one-field format break must stand out from a rate that is not zero.

Then episodes are injected into the same streams and recall is measured on
the first affected batch and within the episode: volume spikes and drops of
3, 5 and 8 sigma (sigma of the null count at that slot), missing rate x3 and
x10 (on the 0.1 % source), a format break in 20 % of one field's values in
the 24-field schema, a one-sd drift of a field for 6 hours, and a 2-hour
outage (seen when the next batch arrives). The output is the false-anomaly
rate per source-month per family and cadence, the calibration table per
detector (share of null p <= t divided by t), recall by kind and magnitude,
and the distribution of severities of the injected findings. Recall is
given on the first affected batch, within 3 batches, within an hour and
within the episode; each stream also prints its own line (>= 5 sigma spikes
and drops, missing x3 within an hour, drift and format within 3 batches),
since what is reachable depends on the stream's shape (sigma there is the
null's own sd at that slot: sqrt(mu + mu^2 / k)).


    uv run python benchmarks/anomaly_eval.py --quick    # 12 days, every 4th batch, 6 episodes
    uv run python benchmarks/anomaly_eval.py --quick --family business Berlin   # a subset
    uv run python benchmarks/anomaly_eval.py --quick --no-null --kind drift     # one kind's recall
    uv run python benchmarks/anomaly_eval.py --quick --kind      # the null only: false, calibration
    uv run python benchmarks/anomaly_eval.py            # the full run: 60 days, every batch
    # families over three processes, then one pooled report:
    E=benchmarks/anomaly_eval.py
    uv run python $E --quick --family business weekend "nb k" sparse --out a.pkl
    uv run python $E --quick --family trend late "missing 15" multi --out b.pkl
    uv run python $E --quick --family Berlin timer split growing --out c.pkl
    uv run python $E --merge a.pkl b.pkl c.pkl

For spikes and drops the report also gives the first-batch ceiling: the share
a test that knows the null's exact law at that slot finds alone at the same
level. On over-dispersed counts it is well below 100 % for 5 sigma spikes
(the upper tail of a negative binomial is heavy), which bounds any detector.

In --quick mode a family (both cadences, recall included) took about 12
minutes with four processes sharing two busy cores: split the families
over processes (--family).
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from pgwarden.quality.anomaly import BatchPoint, evaluate, settings_from
from pgwarden.quality.anomaly.detectors import VOLUME_UPPER_SHARE
from pgwarden.quality.anomaly.stats import binom_sf, negbin_tails, norm_isf

WARMUP_DAYS = 28
BASELINE_DAYS = 28
REFERENCE_BATCHES = 168
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Family:
    name: str
    peak: float = 4000.0  # records per hour at the busiest time
    shape: str = "business"  # business | weekend_own | flat
    weekend: float = 0.3
    k: float = math.inf  # negative-binomial size (variance mu + mu^2 / k)
    field: str = "normal"  # normal | lognormal | multimodal
    fields: int = 1
    missing: float = 0.001
    late: float = 0.0  # share of batches 2-3 minutes late
    trend: float = 0.0  # growth over 60 days
    berlin: bool = False
    timer: bool = False  # counts flushed on a jittered timer
    split: float = 0.0  # each window spills a share U(0, split) of its records into the next batch
    mismatch: float = 0.0  # baseline share of values of the wrong type
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)


FAMILIES = (
    Family("business+weekly", k=50),
    Family("weekend own shape", shape="weekend_own", k=50),
    Family("nb k=6, lognormal", shape="flat", peak=2000, k=6, field="lognormal"),
    Family("nb k=20", shape="flat", peak=2000, k=20),
    Family("trend +30%, 24 fields", k=50, trend=0.3, fields=24, mismatch=0.0005),
    Family("late batches, 0.1% missing", k=50, late=0.3, missing=0.001),
    Family("missing 15%", k=50, missing=0.15),
    Family("multi-modal field", k=50, field="multimodal"),
    Family(
        "Berlin DST, UTC detector", k=50, berlin=True, start=datetime(2026, 2, 2, tzinfo=UTC)
    ),  # fmt: skip
    Family("timer-flushed counts", shape="flat", peak=2000, k=50, timer=True),
    # shapes the detectors were not tuned on: a small bursty source (clustered
    # arrivals, k = 3, whose quiet hours have zero batches) and a source that
    # doubles over two months
    Family("sparse bursty, zero batches", peak=200, k=3),
    Family("split flushes", shape="flat", peak=2000, k=50, split=0.4),
    Family("growing x2, flat", shape="flat", peak=1500, k=30, trend=1.0),
)


def hourly_profile(f: Family, local: datetime) -> float:
    """Relative rate (peak = 1) at a local time."""
    h = local.hour + local.minute / 60
    weekend = local.weekday() >= 5
    if f.shape == "flat":
        return 1.0 if not weekend else 0.8
    if f.shape == "weekend_own" and weekend:
        return 0.05 + 0.5 * math.exp(-(((h - 15) / 3.0) ** 2))
    day = 0.04 + 0.96 / (1 + math.exp(-(h - 8.5) * 3)) / (1 + math.exp((h - 18) * 2))
    return day * (f.weekend if weekend else 1.0)


def field_values(rng: np.random.Generator, kind: str, n: int, shift: float = 0.0) -> np.ndarray:
    if kind == "lognormal":
        v = rng.lognormal(0.0, 1.0, n)
        return v + shift * math.sqrt((math.e - 1) * math.e)  # one sd of lognormal(0, 1)
    if kind == "multimodal":
        comp = rng.choice(3, n, p=[0.5, 0.3, 0.2])
        v = np.array([10.0, 40.0, 90.0])[comp] + rng.normal(0, [3.0, 5.0, 2.0][0], n)
        return v + shift * 31.0
    return rng.normal(50, 10, n) + shift * 10


def summary(values: np.ndarray, nulls: int = 0, mismatches: int = 0) -> dict:
    """The checker's field summary (quality.engine._distribution): quantiles, 10 bins."""
    if len(values) == 0:
        return {"nulls": nulls, "type_mismatch": mismatches}
    lo, hi = float(values.min()), float(values.max())
    width = (hi - lo) / 10 or 1.0
    bins = np.clip(np.floor((values - lo) / width), 0, 9).astype(int)
    counts = np.bincount(bins, minlength=10)
    return {
        "nulls": nulls, "type_mismatch": mismatches,
        "numeric": {
            "count": len(values), "quantile_levels": list(LEVELS),
            "quantiles": np.quantile(values, LEVELS).tolist(),
            "histogram": {"edges": [lo + i * width for i in range(11)],
                          "counts": counts.tolist()},
            "sampled": len(values),
        },
    }  # fmt: skip


@dataclass
class Stream:
    family: Family
    cadence: int  # minutes
    due: list[datetime]
    mu: np.ndarray  # expected records per batch
    sd: np.ndarray
    full: list[BatchPoint]  # with field summaries
    bare: list[BatchPoint]


def simulate(f: Family, cadence: int, days: int, seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    step = timedelta(minutes=cadence)
    if f.berlin:  # the spring change (29 March 2026) in the middle of the evaluated days
        f = replace(f, start=datetime(2026, 3, 29, tzinfo=UTC) - timedelta(WARMUP_DAYS + days / 2))
    count = (WARMUP_DAYS + days) * 24 * 60 // cadence
    due = [f.start + step * (i + 1) for i in range(count)]
    recv = []
    for t in due:
        at = t + timedelta(seconds=float(rng.uniform(5, 25)))
        if f.late and rng.random() < f.late:
            at += timedelta(seconds=float(rng.uniform(120, 180)))
        if f.timer:
            at += timedelta(seconds=float(rng.uniform(-0.3, 0.3) * cadence * 60))
        recv.append(at)
    mu = np.empty(count)
    for i, t in enumerate(due):
        mid = t - step / 2
        local = mid.astimezone(BERLIN) if f.berlin else mid
        growth = 1 + f.trend * (i / count) * (WARMUP_DAYS + days) / 60
        width = cadence / 60
        if f.timer:
            prev = recv[i - 1] if i else recv[0] - step
            width = (recv[i] - prev).total_seconds() / 3600
        mu[i] = f.peak * hourly_profile(f, local) * growth * width
    lam = rng.gamma(f.k, mu / f.k) if math.isfinite(f.k) else mu
    records = rng.poisson(lam)
    var = mu + (mu * mu / f.k if math.isfinite(f.k) else 0)
    if f.split:
        # a window's records N, a share s ~ U(0, split) of them arrives with the next batch:
        # count = (N_i - S_i) + S_(i-1); its mean and variance follow from E s, E s^2
        share = rng.uniform(0, f.split, count)
        spill = rng.binomial(records, share)
        records = records - spill + np.concatenate([[0], spill[:-1]])
        m1, m2 = f.split / 2, f.split**2 / 3
        prev_mu, prev_var = np.concatenate([[mu[0]], mu[:-1]]), np.concatenate([[var[0]], var[:-1]])
        var = (
            (m1 - m2) * (mu + prev_mu)
            + (var + mu * mu) * (1 - 2 * m1 + m2)
            - (1 - m1) ** 2 * mu * mu
            + (prev_var + prev_mu**2) * m2
            - m1**2 * prev_mu**2
        )
        mu = (1 - m1) * mu + m1 * prev_mu
    sd = np.sqrt(var)
    full, bare = [], []
    # the checker counts nulls and wrong types per field; the batch's totals are split
    # over the fields on a generator of their own, so the streams stay those of before
    split_rng = np.random.default_rng(seed + 7919)
    for i in range(count):
        n = int(records[i])
        cells = n * f.fields
        missing = int(rng.binomial(cells, f.missing)) if cells else 0
        wrong = int(rng.binomial(cells, f.mismatch)) if cells and f.mismatch else 0
        nulls = split_rng.multinomial(missing, [1 / f.fields] * f.fields)
        bad = split_rng.multinomial(wrong, [1 / f.fields] * f.fields)
        stats = {}
        for j in range(f.fields):
            kind = f.field if j == 0 else "normal"
            stats[f"f{j}"] = summary(field_values(rng, kind, min(n, 200)), int(nulls[j]),
                                     int(bad[j]))  # fmt: skip
        p = BatchPoint(f"{f.name}-{cadence}-{i}", recv[i], n, missing_values=missing,
                       type_mismatches=wrong, fields=f.fields, field_stats=stats)  # fmt: skip
        full.append(p)
        bare.append(replace(p, field_stats={}))
    return Stream(f, cadence, due, mu, sd, full, bare)


def history(st: Stream, i: int) -> list[BatchPoint]:
    at = st.full[i].received_at
    per_day = 24 * 60 // st.cadence
    lo = max(0, i - BASELINE_DAYS * per_day - 2)
    while st.full[lo].received_at < at - timedelta(days=BASELINE_DAYS):
        lo += 1
    cut = max(lo, i - REFERENCE_BATCHES)
    return st.bare[lo:cut] + st.full[cut:i]


def flag(st: Stream, i: int, keys: frozenset[str]) -> None:
    if keys:
        st.full[i] = replace(st.full[i], flagged=st.full[i].flagged | keys)
        st.bare[i] = replace(st.bare[i], flagged=st.bare[i].flagged | keys)


def run_null(st: Stream, s, every: int) -> tuple[Counter, dict[str, list[float]], int]:
    per_day = 24 * 60 // st.cadence
    first = WARMUP_DAYS * per_day
    fired: Counter = Counter()
    null_p: dict[str, list[float]] = defaultdict(list)
    evaluated = 0
    for i in range(first, len(st.full), every):
        ev = evaluate(history(st, i), st.full[i], UTC, s)
        evaluated += 1
        for r in ev.results:
            if r.status == "tested":
                null_p[r.metric].append(r.p_value)
        for r in ev.anomalies:
            fired[r.metric] += 1
        flag(st, i, frozenset(r.key for r in ev.anomalies))
    return fired, null_p, evaluated


def inject(
    st: Stream, s, kind: str, size: float, i: int, length: int, rng
) -> tuple[int | None, list[str], bool | None]:
    """(index in the episode of the first batch it was found on, or None; severities;
    a ceiling: for a missing rate, whether a test knowing the null rate and the episode's
    start finds it within an hour (its count since the start, at one batch's missing
    level); for a drift of a normal field, whether a test knowing the null law and the
    raw values finds it within 3 batches (the z of the mean of the values since the
    start, two-sided, at one field's drift level); else None)."""
    saved = (list(st.full[i : i + length + 1]), list(st.bare[i : i + length + 1]))
    found, sev = None, []
    per_hour = 60 // st.cadence
    level = s.per_test_level("missing_rate", s.fdr * st.cadence / 60)
    ceiling, cum_x, cum_n = (False if kind == "missing" else None), 0, 0
    first_values = []
    if kind == "drift":
        # the first 3 batches' values drawn up front (in the order the loop would draw
        # them), so the ceiling sees them whenever the detector finds the drift
        first_values = [
            field_values(rng, st.family.field, min(st.full[i + j].records, 200), shift=size)
            for j in range(min(3, length))
        ]
        if st.family.field == "normal":
            drift_level = s.per_test_level("drift", s.fdr * st.cadence / 60) / st.family.fields
            z_level, pooled = norm_isf(drift_level / 2), np.array([])
            ceiling = False
            for v in first_values:
                pooled = np.concatenate([pooled, v])
                if len(pooled):
                    z = abs(pooled.mean() - 50.0) / 10.0 * math.sqrt(len(pooled))
                    ceiling = ceiling or z >= z_level
    metric = {"spike": "volume", "drop": "volume", "missing": "missing_rate",
              "format": "format_rate", "drift": "drift", "outage": "arrival_gap"}[kind]  # fmt: skip
    for j in range(length):
        k = i + j
        p = st.full[k]
        if kind in ("spike", "drop"):
            sign = 1 if kind == "spike" else -1
            p = replace(p, records=max(0, round(p.records + sign * size * st.sd[k])))
        elif kind == "missing":
            cells = p.records * p.fields
            rate = min(1.0, st.family.missing * size)
            missing = int(rng.binomial(cells, rate))
            nulls = rng.multinomial(missing, [1 / p.fields] * p.fields)
            stats = {f"f{j}": {**p.field_stats[f"f{j}"], "nulls": int(nulls[j])}
                     for j in range(p.fields)}  # fmt: skip
            p = replace(p, missing_values=missing, field_stats=stats)
            cum_x, cum_n = cum_x + missing, cum_n + cells
            if j < per_hour and cum_n:
                # mid-p: half the point mass, no randomiser needed for a ceiling
                tail = binom_sf(cum_x, cum_n, st.family.missing)
                mid = tail - 0.5 * (tail - binom_sf(cum_x + 1, cum_n, st.family.missing))
                ceiling = ceiling or mid <= level
        elif kind == "format":
            bad = int(rng.binomial(p.records, 0.2))
            stats = dict(p.field_stats)
            stats["f1"] = {**stats["f1"], "type_mismatch": stats["f1"]["type_mismatch"] + bad}
            p = replace(p, type_mismatches=p.type_mismatches + bad, field_stats=stats)
        elif kind == "drift":
            stats = dict(p.field_stats)
            n = min(p.records, 200)
            values = (
                first_values[j]
                if j < len(first_values)
                else field_values(rng, st.family.field, n, shift=size)
            )
            stats["f0"] = summary(values)
            p = replace(p, field_stats=stats)
        elif kind == "outage":
            # the batches of two hours never came; the next one is the first seen
            pass
        st.full[k] = p
        st.bare[k] = replace(p, field_stats={})
        if kind == "outage":
            hist = [q for q in history(st, i) if q.received_at < st.full[i - length].received_at]
            ev = evaluate(hist, st.full[i], UTC, s)
        else:
            ev = evaluate(history(st, k), p, UTC, s)
        hits = [r for r in ev.anomalies if r.metric == metric]
        if hits:
            found = j if found is None else found
            sev.append(hits[0].severity or "?")
            flag(st, k, frozenset(r.key for r in ev.anomalies))
            if kind != "outage":
                break
        if kind == "outage":
            break
    st.full[i : i + length + 1], st.bare[i : i + length + 1] = saved
    return found, sev, ceiling


def calibration(null_p: dict[str, list[float]]) -> None:
    ts = (0.1, 0.01, 1e-3, 1e-4, 1e-5)
    print("\ncalibration under the null: share of p <= t divided by t (1 = calibrated)")
    print(f"{'detector':<14}{'tests':>9}" + "".join(f"{'t=' + format(t, 'g'):>10}" for t in ts))
    for metric, ps in sorted(null_p.items()):
        a = np.array(ps)
        cells = []
        for t in ts:
            k = int((a <= t).sum())
            cells.append(f"{k / len(a) / t:>6.2f}({k})" if len(a) * t >= 1 else f"{'-':>10}")
        print(f"{metric:<14}{len(a):>9}" + "".join(f"{c:>10}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=60, help="evaluated days per stream")
    ap.add_argument("--every", type=int, default=1, help="evaluate every n-th null batch")
    ap.add_argument("--episodes", type=int, default=40, help="episodes per kind and size")
    ap.add_argument("--no-null", action="store_true", help="recall only (no null evaluation)")
    ap.add_argument("--quick", action="store_true", help="12 days, every 4th batch, 6 episodes")
    ap.add_argument("--cadence", type=int, nargs="*", default=[5, 15])
    ap.add_argument("--family", nargs="*", help="only families whose name contains this")
    ap.add_argument(
        "--kind",
        nargs="*",
        choices=KINDS,
        help="only these injected kinds (default: all; --kind alone: none, the null only)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="also save the results here (pickle), after every stream")
    ap.add_argument("--merge", nargs="+", help="print the combined report of saved runs")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge)
        return
    if args.quick:
        args.days, args.every, args.episodes = 12, 4, 6
    s = settings_from(None)
    t0 = time.perf_counter()
    fams = [f for f in FAMILIES if not args.family or any(x in f.name for x in args.family)]
    all_p: dict[str, list[float]] = defaultdict(list)
    # per episode: (index of the first batch it was found on or None, batches per hour)
    recall: dict[tuple[str, str], list[tuple[int | None, int]]] = defaultdict(list)
    oracle: dict[tuple[str, str], list[bool]] = defaultdict(list)
    # spikes and drops per stream: (family, cadence, kind, label) -> (found on the first
    # batch, the ceiling found it) per episode
    streamwise: dict[tuple[str, int, str, str], list[tuple[bool, bool]]] = defaultdict(list)
    severities: Counter = Counter()
    print(f"fdr {s.fdr:.6f} per hour; {args.days} evaluated days after {WARMUP_DAYS} of warm-up,"
          f" every {args.every} batch(es)")  # fmt: skip
    print(f"{'family':<30}{'cadence':>8}{'evals':>7}{'false/source-month':>20}  fired")
    worst = 0.0
    streams: list[tuple[str, int, int, float, dict[str, int], float]] = []
    for f in fams:
        # seeds from the family's place in FAMILIES, not in the selection: a run of some
        # families (--family) simulates the same streams as the full run
        n_f = FAMILIES.index(f)
        for cad in args.cadence:
            st = simulate(f, cad, args.days, args.seed * 100 + n_f * 10 + cad)
            fired, null_p, evaluated = (
                (Counter(), {}, 1) if args.no_null else run_null(st, s, args.every)
            )
            for m, ps in null_p.items():
                all_p[m].extend(ps)
            per_day = 24 * 60 // cad
            months = evaluated * args.every / per_day / 30
            rate = sum(fired.values()) * 1.0 / months
            worst = max(worst, rate)
            print(f"{f.name:<30}{cad:>6}m{evaluated:>7}{rate:>20.2f}  {dict(fired)}", flush=True)
            streams.append((f.name, cad, evaluated, rate, dict(fired), months))
            first = WARMUP_DAYS * per_day
            strong: list[int | None] = []
            mine: dict[str, list[int | None]] = defaultdict(list)
            for kind, sizes, length in _kinds(f, cad):
                if args.kind is not None and kind not in args.kind:
                    continue
                # each stream and kind draws its episodes on its own generator, and each
                # episode its values on one of its own: a run of some kinds (--kind) meets
                # the same episodes as the full run, and two versions of the detectors meet
                # the same values however early either found the last episode
                rng = np.random.default_rng([args.seed, n_f, cad, KINDS.index(kind)])
                for size in sizes:
                    for e in range(args.episodes):
                        i = int(rng.integers(first + 30, len(st.full) - length - 2))
                        ep_rng = np.random.default_rng(
                            [args.seed, n_f, cad, KINDS.index(kind), int(size * 10), e]
                        )
                        if kind in ("spike", "drop") and st.mu[i] < 5:
                            continue
                        ceiling_first = False
                        if kind in ("spike", "drop"):
                            ceiling_first = oracle_first(st, s, kind, size, i)
                            oracle[(kind, _label(kind, size))].append(ceiling_first)
                        found, sv, ceil = inject(st, s, kind, size, i, length, ep_rng)
                        if kind in ("spike", "drop"):
                            streamwise[(f.name, cad, kind, _label(kind, size))].append(
                                (found == 0, ceiling_first)
                            )
                        if ceil is not None:
                            within = "(hour)" if kind == "missing" else "(3 batches)"
                            oracle[(kind, f"{_label(kind, size)} {within}")].append(ceil)
                        recall[(kind, _label(kind, size))].append((found, 60 // cad))
                        severities.update(sv[:1])
                        if kind in ("spike", "drop") and size >= 5:
                            strong.append(found)
                        mine[f"{kind} {_label(kind, size)}"].append(found)
            per_stream(strong, mine, cad)
            report(all_p, recall, severities, worst, t0, oracle, streamwise)
            if args.out:
                with open(args.out, "wb") as fh:
                    pickle.dump({"all_p": dict(all_p), "recall": dict(recall),
                                 "oracle": dict(oracle), "severities": severities,
                                 "streams": streams, "streamwise": dict(streamwise)},
                                fh)  # fmt: skip


def merge(paths: list[str]) -> None:
    """The report of several saved runs together (families split over processes)."""
    all_p: dict[str, list[float]] = defaultdict(list)
    recall: dict[tuple[str, str], list[tuple[int | None, int]]] = defaultdict(list)
    oracle: dict[tuple[str, str], list[bool]] = defaultdict(list)
    streamwise: dict[tuple[str, int, str, str], list[tuple[bool, bool]]] = defaultdict(list)
    severities: Counter = Counter()
    print(f"{'family':<30}{'cadence':>8}{'evals':>7}{'false/source-month':>20}  fired")
    worst, fired_all, months_all = 0.0, 0, 0.0
    for path in paths:
        with open(path, "rb") as fh:
            got = pickle.load(fh)
        for m, ps in got["all_p"].items():
            all_p[m].extend(ps)
        for k, v in got["recall"].items():
            recall[k].extend(v)
        for k, v in got.get("oracle", {}).items():
            oracle[k].extend(v)
        for k, v in got.get("streamwise", {}).items():
            streamwise[k].extend(v)
        severities.update(got["severities"])
        for name, cad, evaluated, rate, fired, months in got["streams"]:
            print(f"{name:<30}{cad:>6}m{evaluated:>7}{rate:>20.2f}  {fired}")
            worst = max(worst, rate)
            fired_all += sum(fired.values())
            months_all += months
    print(f"\nall streams: {fired_all} false anomalies in {months_all:.1f} source-months"
          f" = {fired_all / max(months_all, 1e-9):.2f} per source-month")  # fmt: skip
    report(all_p, recall, severities, worst, time.perf_counter(), oracle, streamwise)


def oracle_first(st: Stream, s, kind: str, size: float, i: int) -> bool:
    """Would a test that knows the null exactly find this batch alone at the volume level?

    The null's own negative binomial at that slot (mean mu, sd sigma), the level one
    volume test gets at this cadence, split between the tails as the detector splits it:
    the ceiling any detector reaches on the first batch without more false anomalies.
    """
    sign = 1 if kind == "spike" else -1
    x = max(0, round(st.full[i].records + sign * size * st.sd[i]))
    mu, var = float(st.mu[i]), float(st.sd[i]) ** 2
    low, high = negbin_tails(x, mu, var / mu)
    level = s.per_test_level("volume", s.fdr * st.cadence / 60)
    if kind == "spike":
        return high / VOLUME_UPPER_SHARE <= level
    return low / (1 - VOLUME_UPPER_SHARE) <= level


def per_stream(strong: list[int | None], mine: dict[str, list[int | None]], cad: int) -> None:
    """One line per stream: the recall goals that depend on the stream's shape."""

    def share(v: list[int | None], within: int) -> str:
        return f"{100 * sum(x is not None and x < within for x in v) / len(v):.0f}%"

    parts = []
    if strong:
        parts.append(f">= 5 sigma spikes and drops {share(strong, 1)} first batch, "
                     f"{share(strong, 99)} in the episode")  # fmt: skip
    for k, v in mine.items():
        if k.startswith("missing x3"):
            parts.append(f"{k} {share(v, 60 // cad)} within an hour")
        if k.startswith(("drift", "format")):
            parts.append(f"{k} {share(v, 3)} within 3 batches")
    print(f"{'':<38}" + "; ".join(parts), flush=True)


def report(
    all_p, recall, severities, worst: float, t0: float, oracle=None, streamwise=None
) -> None:
    """The cumulative tables so far (printed after every stream, so a cut run still tells)."""
    print(f"\nworst stream so far: {worst:.2f} false anomalies per source-month (goal <= 1)")
    calibration(all_p)
    print("\nrecall: found on the first affected batch / within 3 batches / within an hour"
          " / within the episode")  # fmt: skip
    for (kind, label), hits in sorted(recall.items()):
        n = len(hits)
        first = sum(x == 0 for x, _ in hits) / n
        three = sum(x is not None and x < 3 for x, _ in hits) / n
        hour = sum(x is not None and x < ph for x, ph in hits) / n
        anyh = sum(x is not None for x, _ in hits) / n
        line = f"  {kind:<8}{label:<14}{n:>5} episodes"
        print(f"{line}  {100 * first:5.1f}%  {100 * three:5.1f}%  {100 * hour:5.1f}%"
              f"  {100 * anyh:5.1f}%")  # fmt: skip
    if oracle:
        print("\nceiling: share a test knowing the null's exact law finds at the same level (spikes"
              " and drops: the first batch alone; missing (hour): the episode's batches so far,"
              " within an hour, at one batch's missing level; drift (3 batches): the mean of"
              " the raw values since the start, within 3 batches, at one field's drift level,"
              " normal fields only)")  # fmt: skip
        for (kind, label), hits in sorted(oracle.items()):
            share = 100 * sum(hits) / len(hits)
            print(f"  {kind:<8}{label:<14}{len(hits):>5} episodes  {share:5.1f}%")
    if streamwise:
        per_family(streamwise)
    total = sum(severities.values()) or 1
    shares = ", ".join(f"{k} {v} ({100 * v / total:.0f}%)" for k, v in severities.most_common())
    print(f"\nseverity of injected findings (first finding per episode): {shares}")
    print(f"\n{time.perf_counter() - t0:.0f} s")


def per_family(streamwise: dict[tuple[str, int, str, str], list[tuple[bool, bool]]]) -> None:
    """5-sigma spikes and drops per stream: the detector's first-batch recall beside the
    ceiling's on the same episodes (where the detector loses against the exact law)."""
    print("\n5 sigma, first batch, per stream: detector / ceiling (episodes; the detector's"
          " misses the ceiling found)")  # fmt: skip
    print(f"{'family':<30}{'cadence':>8}{'spike':>20}{'drop':>20}")
    names = sorted({(name, cad) for name, cad, _, _ in streamwise},
                   key=lambda k: ([f.name for f in FAMILIES].index(k[0]) if k[0] in
                                  [f.name for f in FAMILIES] else 99, k[1]))  # fmt: skip
    totals: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for name, cad in names:
        cells = []
        for kind in ("spike", "drop"):
            v = streamwise.get((name, cad, kind, _label(kind, 5.0)), [])
            totals[kind].extend(v)
            cells.append(_versus(v))
        print(f"{name:<30}{cad:>6}m" + "".join(f"{c:>20}" for c in cells))
    print(f"{'all':<38}" + "".join(f"{_versus(totals[k]):>20}" for k in ("spike", "drop")))


def _versus(v: list[tuple[bool, bool]]) -> str:
    if not v:
        return "-"
    det, ceil = sum(d for d, _ in v), sum(c for _, c in v)
    lost = sum(c and not d for d, c in v)
    return f"{det}/{ceil} of {len(v)} ({lost})"


def _label(kind: str, size: float) -> str:
    return {"spike": f"{size:g} sigma", "drop": f"{size:g} sigma", "missing": f"x{size:g}",
            "format": "20% of a field", "drift": f"{size:g} sd, 6 h",
            "outage": "2 h"}[kind]  # fmt: skip


KINDS = ("spike", "drop", "missing", "format", "drift", "outage")


def _kinds(f: Family, cad: int) -> list[tuple[str, tuple[float, ...], int]]:
    per_hour = 60 // cad
    kinds = [("spike", (3.0, 5.0, 8.0), 3), ("drop", (3.0, 5.0, 8.0), 3)]
    if f.missing <= 0.001 and f.peak >= 1000:
        # (a 0.1 % rate on the sparse source is 0.2 missing values an hour: nothing to see)
        kinds.append(("missing", (3.0, 10.0), per_hour * 2))
    if f.fields >= 24:
        kinds.append(("format", (0.2,), 3))
    kinds.append(("drift", (1.0,), per_hour * 6))
    kinds.append(("outage", (2.0,), per_hour * 2))
    return kinds


if __name__ == "__main__":
    main()
