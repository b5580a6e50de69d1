"""The detectors on synthetic series: clean seasonal noise, and each injected fault."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.quality.anomaly import BatchPoint, DetectorSettings, Status, evaluate

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def expected_count(due: datetime, base: float = 800) -> float:
    daily = 1 + 0.4 * math.sin(2 * math.pi * (due.hour - 9) / 24)
    weekly = 0.7 if due.weekday() >= 5 else 1.0
    return base * daily * weekly


def histogram(rng: random.Random, n: int, mean: float = 50.0, sd: float = 10.0) -> dict:
    values = [rng.gauss(mean, sd) for _ in range(n)]
    lo, hi = min(values), max(values)
    width = (hi - lo) / 10
    counts = [0] * 10
    for v in values:
        counts[min(9, int((v - lo) / width))] += 1
    edges = [lo + i * width for i in range(11)]
    return {
        "nulls": 0,
        "type_mismatch": 0,
        "numeric": {"histogram": {"edges": edges, "counts": counts}},
    }


def series(days: int, seed: int = 1, with_stats: bool = False) -> list[BatchPoint]:
    rng = random.Random(seed)
    pts = []
    for i in range(days * 24):
        due = START + timedelta(hours=i)
        mu = expected_count(due)
        lam = rng.gammavariate(400, mu / 400)
        n = max(0, round(rng.gauss(lam, math.sqrt(lam))))
        missing = sum(1 for _ in range(n) if rng.random() < 0.02)
        stats = {"value": histogram(rng, 300)} if with_stats else {}
        pts.append(
            BatchPoint(
                f"b{i}", due + timedelta(seconds=rng.gauss(120, 20)), n,
                missing_values=missing, type_mismatches=0, fields=1, field_stats=stats,
            )
        )  # fmt: skip
    return pts


@pytest.fixture(scope="module")
def history() -> list[BatchPoint]:
    return series(21)


def keys(ev) -> set[str]:
    return {r.key for r in ev.anomalies}


def test_clean_seasonal_noise_raises_nothing(history):
    # Three days of hourly batches after two weeks of history (72 evaluations).
    flagged = [
        p.batch_id
        for i, p in enumerate(history)
        if i >= 18 * 24 and evaluate(history[:i], p, UTC).anomalies
    ]
    assert flagged == []


def test_insufficient_history_is_explicit(history):
    ev = evaluate(history[:30], history[30], UTC)
    volume = next(r for r in ev.results if r.metric == "volume")
    assert volume.status is Status.INSUFFICIENT_HISTORY  # 30 hours < two daily cycles
    assert volume.anomaly is False and volume.score == 0.0
    assert not ev.anomalies


def test_spike_and_drop_are_found_with_a_high_score(history):
    i = 20 * 24 + 10
    p = history[i]
    sd = math.sqrt(expected_count(p.received_at.replace(minute=0, second=0, microsecond=0)) * 3)
    spike = evaluate(history[:i], replace(p, records=p.records + round(8 * sd)), UTC)
    drop = evaluate(history[:i], replace(p, records=p.records // 3), UTC)
    assert keys(spike) == {"volume"} and spike.anomalies[0].direction == "high"
    assert keys(drop) == {"volume"} and drop.anomalies[0].direction == "low"
    assert spike.anomalies[0].score > 0.999
    low, high = spike.anomalies[0].low, spike.anomalies[0].high
    assert low < spike.anomalies[0].expected < high < spike.anomalies[0].observed


def test_a_weekend_night_is_not_a_drop(history):
    # Saturday 03:00 has about a third of a weekday afternoon's volume, by design.
    i = next(j for j, p in enumerate(history) if j > 14 * 24 and p.received_at.weekday() == 5
             and p.received_at.hour == 3)  # fmt: skip
    assert not evaluate(history[:i], history[i], UTC).anomalies


def test_missing_batch_and_late_batch_show_in_the_arrival_gap(history):
    i = 20 * 24
    missing = evaluate(history[: i - 1], history[i], UTC)  # batch i-1 never came
    assert "arrival_gap" in keys(missing)
    late = replace(history[i], received_at=history[i].received_at + timedelta(minutes=40))
    assert "arrival_gap" in keys(evaluate(history[:i], late, UTC))


def test_missing_rate_and_format_shift(history):
    i = 20 * 24 + 5
    p = history[i]
    more_missing = replace(p, missing_values=int(p.records * 0.08))
    assert "missing_rate" in keys(evaluate(history[:i], more_missing, UTC))
    shifted = replace(p, type_mismatches=int(p.records * 0.05))
    assert "format_rate" in keys(evaluate(history[:i], shifted, UTC))
    # The gate is relative to the source's own rate: a missing rate 1.3 times its
    # usual 2 % does not count, however many records the batch has.
    big = replace(p, records=p.records * 50, missing_values=int(p.records * 50 * 0.026))
    assert "missing_rate" not in keys(evaluate(history[:i], big, UTC))


def test_earlier_anomalies_are_left_out_of_the_baseline(history):
    i = 20 * 24
    polluted = [replace(p, records=p.records * 5) if 19 * 24 <= j < 20 * 24 else p
                for j, p in enumerate(history[:i])]  # fmt: skip
    flagged = [replace(p, flagged=frozenset({"volume"})) if j >= 19 * 24 else p
               for j, p in enumerate(polluted)]  # fmt: skip
    p = history[i]
    normal = evaluate(flagged, p, UTC)
    assert "volume" not in keys(normal)  # the polluted day did not move the level


def test_drift_needs_effect_size_and_sample():
    pts = series(3, seed=7, with_stats=True)
    rng = random.Random(3)
    s = DetectorSettings()
    current = pts[-1]
    same = evaluate(pts[:-1], current, UTC, s)
    assert not any(r.metric == "drift" and r.anomaly for r in same.results)
    moved = replace(current, field_stats={"value": histogram(rng, 300, mean=65)})
    ev = evaluate(pts[:-1], moved, UTC, s)
    drift = next(r for r in ev.results if r.metric == "drift")
    assert drift.anomaly and drift.effect >= s.psi_threshold
    # A small batch is no longer left untested: it is tested with the previous ones.
    small = replace(current, field_stats={"value": histogram(rng, 12, mean=65)})
    drift_small = next(r for r in evaluate(pts[:-1], small, UTC, s).results if r.metric == "drift")
    assert drift_small.status is Status.TESTED and drift_small.details["window_batches"] == 3


def test_outlier_values_are_found():
    pts = series(3, seed=9, with_stats=True)
    rng = random.Random(4)
    h = histogram(rng, 300)
    num = h["numeric"]["histogram"]
    # 10% of the values at -999, the seed's sentinel.
    edges = [-999.0, -998.0, *num["edges"]]
    counts = [30, 0, *num["counts"]]
    current = replace(
        pts[-1],
        field_stats={"value": {"numeric": {"histogram": {"edges": edges, "counts": counts}}}},
    )
    ev = evaluate(pts[:-1], current, UTC)
    assert any(r.metric == "outliers" and r.anomaly for r in ev.results)
