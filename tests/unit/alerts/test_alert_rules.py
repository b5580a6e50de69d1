"""Severity (seed 004's rule), dedup, cool-down, auto-resolve and backoff, without a database."""

import random
from datetime import UTC, datetime, timedelta

from pgwarden.alerts.model import Condition, OpenAlert, plan, severity
from pgwarden.alerts.outbox import next_attempt
from pgwarden.config.keys.alerts import check_channels

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def issue(rule: str, sev: str) -> Condition:
    return Condition(f"rule:{rule}", "issue", rule, issue_severity=sev)


def anomaly(metric: str, score: float) -> Condition:
    return Condition(f"anomaly:{metric}", "anomaly", metric, anomaly_score=score)


def test_severity_follows_the_seed_rule():
    assert severity(issue("a", "critical"), 1)[0] == "critical"
    assert severity(anomaly("volume", 0.95), 1) == (
        "critical",
        "critical: anomaly score 0.9500 > 0.9",
    )
    assert severity(anomaly("volume", 0.85), 11)[0] == "high"  # more than 10 findings
    assert severity(issue("a", "high"), 1)[0] == "high"
    assert severity(issue("a", "medium"), 10)[0] == "medium"
    assert severity(anomaly("volume", 0.9), 1)[0] == "medium"  # "above 0.9" is strict


def test_a_new_condition_opens_and_notifies():
    acts = plan([issue("a", "high")], [], {}, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.notify, a.severity) for a in acts] == [("open", "opened", "high")]


def test_a_repeated_condition_updates_the_open_alert_quietly_unless_it_escalates():
    open_ = [OpenAlert(7, "rule:a", "high", 0)]
    same = plan([issue("a", "high")], open_, {}, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.alert_id, a.notify) for a in same] == [("update", 7, None)]
    worse = plan([issue("a", "critical")], open_, {}, NOW, cooldown=timedelta(0), resolve_after=2)
    assert [(a.op, a.notify, a.severity) for a in worse] == [("update", "escalated", "critical")]


def test_a_weaker_occurrence_keeps_the_worst_batchs_severity_and_evidence():
    open_ = [OpenAlert(7, "rule:a", "critical", 1)]
    weaker = plan([issue("a", "high")], open_, {}, NOW, cooldown=timedelta(0), resolve_after=2)
    assert [(a.op, a.alert_id, a.severity, a.notify) for a in weaker] == [
        ("touch", 7, "critical", None)
    ]


def test_clean_batches_resolve_after_the_configured_streak():
    open_ = [OpenAlert(7, "rule:a", "high", 0)]
    first = plan([], open_, {}, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.clear_streak) for a in first] == [("clear", 1)]
    open_ = [OpenAlert(7, "rule:a", "high", 1)]
    second = plan([], open_, {}, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.notify) for a in second] == [("resolve", "resolved")]


def test_cool_down_reopens_silently_then_notifies_after_it():
    recent = {"rule:a": NOW - timedelta(minutes=10)}
    acts = plan([issue("a", "high")], [], recent, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.notify) for a in acts] == [("reopen", None)]
    old = {"rule:a": NOW - timedelta(hours=2)}
    acts = plan([issue("a", "high")], [], old, NOW, cooldown=timedelta(hours=1), resolve_after=2)
    assert [(a.op, a.notify) for a in acts] == [("open", "opened")]


def test_backoff_doubles_with_jitter_and_a_cap():
    rng = random.Random(0)
    delays = [
        (next_attempt(n, NOW, base=30, cap=600, rand=rng.random) - NOW).total_seconds()
        for n in range(1, 10)
    ]
    for n, d in enumerate(delays, start=1):
        full = min(600, 30 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert max(delays) <= 600


def test_channel_config_is_checked():
    assert check_channels([{"name": "log", "type": "log"}]) is None
    assert "url" in check_channels([{"name": "h", "type": "webhook", "url": "ftp://x"}])
    assert "twice" in check_channels([{"name": "a", "type": "log"}, {"name": "a", "type": "log"}])
    assert "pager" in check_channels([{"name": "a", "type": "pager"}])
    assert "to" in check_channels([{"name": "m", "type": "email", "host": "h", "from": "a@b"}])


def test_an_anomaly_keeps_the_severity_its_detector_graded():
    cond = Condition(
        "anomaly:volume", "anomaly", "volume", issue_severity="medium", anomaly_score=0.99999,
        explanation={"severity_reason": "volume effect 4.2 (high from 6, critical from 10)"},
    )  # fmt: skip
    assert severity(cond, 1) == (
        "medium",
        "medium: volume effect 4.2 (high from 6, critical from 10)",
    )
