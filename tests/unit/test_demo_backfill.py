"""The demo's backfill plan, its injections and the summary's anomaly lines (pure)."""

import itertools
import random
from datetime import UTC, datetime, timedelta

from pgwarden.demo import simulator
from pgwarden.demo.backfill import CADENCE, DAYS, Injector, plan_backfill
from pgwarden.demo.run import anomaly_lines

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_the_backfill_covers_the_days_before_now_for_every_source():
    plan = plan_backfill(list(simulator.SOURCES), NOW)
    per_source = int(timedelta(days=DAYS) / CADENCE)
    assert len(plan) == 4 * per_source
    times = [at for at, _ in plan]
    assert times == sorted(times) and max(times) < NOW
    assert NOW - min(times) > timedelta(days=2)  # the volume detector's minimum
    assert len({b.batch_id for _, b in plan}) == len(plan)
    assert {b.source for _, b in plan} == set(simulator.SOURCES)
    again = plan_backfill(list(simulator.SOURCES), NOW)
    assert [b.batch_id for _, b in again] == [b.batch_id for _, b in plan]  # reproducible


def test_injections_bend_their_source_from_their_share_of_the_run():
    inj = Injector()
    assert inj.bend("user_events", 0.1) == {}  # not yet
    assert inj.bend("user_events", 0.4) == {"size": 6000}
    assert inj.bend("user_events", 0.5) == {}  # one batch only
    assert inj.bend("transaction_logs", 0.6) == {"missing": 0.6}
    assert inj.bend("transaction_logs", 0.61) == {"missing": 0.6}
    assert inj.bend("transaction_logs", 0.62) == {}
    lines = inj.lines(60.0)
    assert " ".join(lines[0].split()) == (
        "spike user_events at 24 s, 1 batch: one batch of 6,000 records (usual 50-500)"
    )
    assert "2 batches" in lines[1]
    big = simulator.make_batch(random.Random(1), "user_events", 1, NOW, size=6000)
    assert len(big.records) == 6000
    gone = simulator.make_batch(random.Random(1), "api_calls", 1, NOW, missing=1.0)
    assert all("timestamp" not in r and "value" not in r for r in gone.records)


def test_the_summary_explains_each_anomaly_alert():
    alert = {
        "kind": "anomaly", "severity": "critical", "last_seen": NOW,
        "title": "user_events: volume spike (score 1.0000)",
        "explanation": {"observed": 6000.0, "expected": 212.4, "expected_range": [0, 580.2],
                        "method": "negative binomial", "severity_reason": "volume effect 55",
                        "recommendation": "check the producer for replays"},
    }  # fmt: skip
    old = {**alert, "last_seen": NOW - timedelta(hours=3)}
    rule = {**alert, "kind": "issue"}
    lines = anomaly_lines([alert, old, rule], NOW - timedelta(minutes=1))
    assert lines[0] == "anomalies:  1 alert in the live run (1 more from the backfill):"
    assert lines[1] == "  [critical] user_events: volume spike (score 1.0000)"
    assert "observed 6,000, expected 212 (normal range 0 .. 580)" in lines[2]
    assert lines[-1] == "      → check the producer for replays"
    assert anomaly_lines([], NOW) == ["anomalies:  0 alerts in the live run"]
    closed = anomaly_lines([{**alert, "status": "resolved"}], NOW - timedelta(minutes=1))
    assert closed[1] == "  [critical, resolved] user_events: volume spike (score 1.0000)"


def test_a_second_run_sends_new_ids_with_the_same_data():
    first = list(itertools.islice(simulator.stream(seed=7, start=NOW, tag="r1-"), 5))
    again = list(itertools.islice(simulator.stream(seed=7, start=NOW, tag="r2-"), 5))
    assert not {b.batch_id for b in first} & {b.batch_id for b in again}
    ids = {r["id"] for b in first for r in b.records}
    assert not ids & {r["id"] for b in again for r in b.records}
    assert [r.get("value") for r in first[0].records] == [r.get("value") for r in again[0].records]
