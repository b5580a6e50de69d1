"""Evaluate the anomaly detectors: false alerts on pure noise, recall on injected spikes.

For each simulated source (four profiles: volume, daily and weekly seasonality,
over-dispersion, arrival jitter, missing and format rates, a numeric field's
histogram of 200 sampled values) this builds 28 days of warm-up history and
then 30 days of hourly pure-noise batches, and runs the real detector stack
(`pgwarden.quality.anomaly.evaluate`, default settings, 28-day baseline,
168-batch drift reference, earlier anomalies flagged and left out) on every
batch of those 30 days. Any anomaly there is a false alert.

Then it injects spikes of k sigma (k = 3, 4, 5, 6, 8; sigma is the true noise
standard deviation of that hour's count, half of them upward, half downward)
into randomly chosen batches of the evaluation month and counts how many the
volume detector flags.

    uv run python benchmarks/anomaly_eval.py [--months 2] [--spikes 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pgwarden.quality.anomaly import BatchPoint, DetectorSettings, evaluate

WARMUP_DAYS = 28
EVAL_DAYS = 30
BASELINE_DAYS = 28
REFERENCE_BATCHES = 168
SIZES = (3, 4, 5, 6, 8)


@dataclass(frozen=True)
class Profile:
    name: str
    base: float  # records per hour at the daily mean
    daily: float  # amplitude of the daily cycle
    weekend: float  # weekend factor
    size: float  # negative-binomial size k (variance mu + mu^2/k); inf = Poisson
    missing: float
    jitter: float  # seconds of arrival jitter


PROFILES = (
    Profile("user_events", 800, 0.4, 0.7, 400, 0.02, 30),
    Profile("transaction_logs", 200, 0.6, 0.5, math.inf, 0.01, 60),
    Profile("system_metrics", 3600, 0.05, 1.0, 2000, 0.001, 5),
    Profile("api_calls", 40, 0.5, 0.8, 60, 0.05, 120),
)


def mean_at(p: Profile, due: datetime) -> float:
    daily = 1 + p.daily * math.sin(2 * math.pi * (due.hour - 9) / 24)
    return p.base * daily * (p.weekend if due.weekday() >= 5 else 1.0)


def sd_at(p: Profile, due: datetime) -> float:
    mu = mean_at(p, due)
    return math.sqrt(mu + (mu * mu / p.size if math.isfinite(p.size) else 0.0))


def poisson(rng: random.Random, lam: float) -> int:
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def histogram(rng: random.Random, n: int = 200) -> dict:
    values = [rng.gauss(50, 10) for _ in range(n)]
    lo, hi = min(values), max(values)
    width = (hi - lo) / 10 or 1.0
    counts = [0] * 10
    for v in values:
        counts[min(9, int((v - lo) / width))] += 1
    edges = [lo + i * width for i in range(11)]
    return {"nulls": 0, "type_mismatch": 0,
            "numeric": {"histogram": {"edges": edges, "counts": counts}}}  # fmt: skip


def simulate(p: Profile, rng: random.Random, start: datetime) -> list[tuple[datetime, BatchPoint]]:
    out = []
    for i in range((WARMUP_DAYS + EVAL_DAYS) * 24):
        due = start + timedelta(hours=i)
        mu = mean_at(p, due)
        lam = rng.gammavariate(p.size, mu / p.size) if math.isfinite(p.size) else mu
        n = poisson(rng, lam)
        missing = max(
            0, round(rng.gauss(n * p.missing, math.sqrt(n * p.missing * (1 - p.missing))))
        )
        at = due + timedelta(seconds=90 + rng.gauss(0, p.jitter))
        point = BatchPoint(
            f"{p.name}-{i}", at, n, missing_values=missing, type_mismatches=0, fields=1,
            field_stats={"value": histogram(rng)},
        )  # fmt: skip
        out.append((due, point))
    return out


def window(points: list[BatchPoint], i: int) -> list[BatchPoint]:
    at = points[i].received_at
    since = at - timedelta(days=BASELINE_DAYS)
    hist = [q for q in points[max(0, i - BASELINE_DAYS * 24 - 2) : i] if q.received_at >= since]
    # Only the latest batches carry field summaries, as the database reader does.
    cut = len(hist) - REFERENCE_BATCHES
    return [q if j >= cut else replace(q, field_stats={}) for j, q in enumerate(hist)]


def run_month(p: Profile, seed: int, spikes: int, s: DetectorSettings) -> dict:
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=rng.randrange(0, 7))
    series = simulate(p, rng, start)
    points = [pt for _, pt in series]
    first = WARMUP_DAYS * 24
    false_alerts: list[str] = []
    null_p: dict[str, list[float]] = {}
    for i in range(first, len(points)):
        ev = evaluate(window(points, i), points[i], UTC, s)
        for r in ev.results:
            if r.status == "tested":
                null_p.setdefault(r.metric, []).append(r.p_value)
        if ev.anomalies:
            false_alerts.extend(r.key for r in ev.anomalies)
            # later baselines leave the flagged metric out, as in production
            points[i] = replace(points[i], flagged=frozenset(r.key for r in ev.anomalies))
    recall = {}
    for k in SIZES:
        hits = 0
        for j in range(spikes):
            i = first + rng.randrange(0, EVAL_DAYS * 24)
            due, pt = series[i]
            sign = 1 if j % 2 == 0 else -1
            value = max(0, round(pt.records + sign * k * sd_at(p, due)))
            ev = evaluate(window(points, i), replace(pt, records=value), UTC, s)
            hits += any(r.metric == "volume" and r.anomaly for r in ev.results)
        recall[k] = hits / spikes
    return {"false": len(false_alerts), "keys": false_alerts, "recall": recall, "null_p": null_p}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=2, help="simulated months per source")
    parser.add_argument("--spikes", type=int, default=60, help="injections per size per month")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    s = DetectorSettings()
    t0 = time.perf_counter()
    print(f"settings: fdr={s.fdr:.6f} weights={dict(s.weights)}")
    print(f"{'source':<18}{'months':>7}{'false alerts/month':>20}  recall by spike size (sigma)")
    all_false: list[int] = []
    null_p: dict[str, list[float]] = {}
    per_source: list[tuple[str, float]] = []
    pooled = {k: [] for k in SIZES}
    evaluations = 0
    for n, p in enumerate(PROFILES):
        months = [run_month(p, args.seed * 1000 + n * 100 + m, args.spikes, s)
                  for m in range(args.months)]  # fmt: skip
        evaluations += args.months * (EVAL_DAYS * 24 + args.spikes * len(SIZES))
        falses = [m["false"] for m in months]
        for m in months:
            for metric, ps in m["null_p"].items():
                null_p.setdefault(metric, []).extend(ps)
        all_false.extend(falses)
        per_source.append((p.name, statistics.mean(falses)))
        rec = {k: statistics.mean(m["recall"][k] for m in months) for k in SIZES}
        for k in SIZES:
            pooled[k].append(rec[k])
        keys = sorted({key for m in months for key in m["keys"]})
        print(
            f"{p.name:<18}{args.months:>7}{statistics.mean(falses):>20.2f}  "
            + "  ".join(f"{k}σ {100 * rec[k]:5.1f}%" for k in SIZES)
            + (f"   (false on: {', '.join(keys)})" if keys else "")
        )
    elapsed = time.perf_counter() - t0
    print(
        f"{'all':<18}{len(all_false):>7}{statistics.mean(all_false):>20.2f}  "
        + "  ".join(f"{k}σ {100 * statistics.mean(pooled[k]):5.1f}%" for k in SIZES)
    )
    print(f"max false alerts in one source-month: {max(all_false)}")
    print(
        f"{evaluations} evaluations in {elapsed:.1f} s ({1000 * elapsed / evaluations:.1f} ms each)"
    )
    print_calibration(null_p)
    total = sum(all_false)
    print(
        f"false alerts: {total} in {len(all_false)} source-months "
        f"(pooled {total / len(all_false):.2f}/source-month, one-sided 95 % upper bound "
        f"{poisson_upper(total) / len(all_false):.2f}; design rate "
        f"{s.fdr * EVAL_DAYS * 24:.2f}/source-month)"
    )
    worst = max(per_source, key=lambda kv: kv[1])
    verdict("false alerts <= 1.0 per source-month, every source", worst[1] <= 1.0,
            f"worst {worst[0]} {worst[1]:.2f}")  # fmt: skip
    big = [k for k in SIZES if k >= 5]
    pooled_big = statistics.mean(statistics.mean(pooled[k]) for k in big)
    verdict("recall >= 95 % on spikes >= 5σ (pooled 5/6/8σ)", pooled_big >= 0.95,
            f"{100 * pooled_big:.1f} %")  # fmt: skip
    r5 = statistics.mean(pooled[5])
    half = 196 * math.sqrt(r5 * (1 - r5) / (args.spikes * len(all_false)))
    print(f"(info) recall at exactly 5σ: {100 * r5:.1f} % (±{half:.1f} at 95 %)")


def print_calibration(null_p: dict[str, list[float]]) -> None:
    """Null calibration of each detector on the noise months: P(p <= t) should be <= ~t.

    Discrete and gated tests put mass at p = 1 (no defect at all), so their
    KS distance to the uniform is large by design; the tail ratios are what
    matter for false alerts (1.0 = calibrated, below = conservative).
    """
    print("null calibration (pure-noise months, all sources): share of p <= t, divided by t")
    print(f"{'metric':<14}{'tests':>7}{'t=0.1':>8}{'t=0.01':>8}{'t=1e-3':>8}{'KS':>7}  deciles")
    for metric, ps in sorted(null_p.items()):
        ps = sorted(ps)
        n = len(ps)
        ks = max(max((j + 1) / n - p, p - j / n) for j, p in enumerate(ps))
        ratio = [sum(p <= t for p in ps) / n / t for t in (0.1, 0.01, 0.001)]
        deciles = [sum(min(9, int(p * 10)) == b for p in ps) for b in range(10)]
        print(
            f"{metric:<14}{n:>7}" + "".join(f"{r:>8.2f}" for r in ratio)
            + f"{ks:>7.3f}  {deciles}"
        )  # fmt: skip


def verdict(goal: str, ok: bool, value: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}: {goal}: {value}")


def poisson_upper(k: int, conf: float = 0.95) -> float:
    """Upper confidence bound of a Poisson mean after observing k events (bisection)."""
    lo, hi = 0.0, 10.0 + 10.0 * k
    for _ in range(100):
        mid = (lo + hi) / 2
        cdf = sum(math.exp(-mid + i * math.log(mid) - math.lgamma(i + 1)) for i in range(k + 1))
        if cdf > 1 - conf:
            lo = mid
        else:
            hi = mid
    return hi


if __name__ == "__main__":
    main()
