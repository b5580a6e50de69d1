"""Seed 004's performance thresholds turned into alert conditions (pure)."""

from datetime import UTC, datetime

import pytest

from pgwarden.alerts.model import SEVERITY_ORDER, severity
from pgwarden.config.keys.quality import KEYS
from pgwarden.quality.model import BatchMetadata, BatchResult, BatchStatus
from pgwarden.quality.performance import (
    MB,
    PerformanceLimits,
    error_rate,
    limits_from,
    performance_conditions,
)

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def batch(seconds: float = 0.2, memory_mb: float = 40) -> BatchResult:
    return BatchResult(
        batch_id="b1", source="crm", received_at=AT, checked_at=AT, records=1000,
        status=BatchStatus.ACCEPTED, scores=None, violations=(),
        metadata=BatchMetadata("crm", "ingest"), processing_seconds=seconds,
        peak_memory_bytes=int(memory_mb * MB),
    )  # fmt: skip


class Config:
    def __init__(self, **values):
        self.values = {k.name: k.default for k in KEYS} | values

    def get(self, key):
        return self.values[key]


def test_the_seed_defaults_are_the_config_defaults():
    assert limits_from(Config()) == PerformanceLimits(30.0, 512.0, 0.05, 20)
    assert limits_from(Config(**{"quality.processing_time_max": 5})).processing_seconds == 5


def test_a_batch_under_every_limit_raises_nothing():
    assert performance_conditions(batch(), PerformanceLimits(), rate=0.0) == []


@pytest.mark.parametrize(
    ("seconds", "memory", "rules", "worst"),
    [
        (31.0, 40, ["performance:processing_time"], "medium"),
        (61.0, 40, ["performance:processing_time"], "high"),  # twice the limit
        (1.0, 600, ["performance:memory_usage"], "medium"),
        (45.0, 2048, ["performance:processing_time", "performance:memory_usage"], "high"),
    ],
)
def test_time_and_memory_over_the_limit(seconds, memory, rules, worst):
    found = performance_conditions(batch(seconds, memory), PerformanceLimits())
    assert [c.rule for c in found] == rules
    assert max((c.issue_severity for c in found), key=SEVERITY_ORDER.__getitem__) == worst
    c = found[0]
    assert c.explanation["observed"] > c.explanation["expected"]
    assert c.explanation["recommendation"]
    # the alert planner keeps the graded severity
    assert severity(c, len(found))[0] == c.issue_severity


def test_error_rate_over_the_window():
    limits = PerformanceLimits(error_window=20)
    assert error_rate([True, False], limits) is None  # too few batches to call it a rate
    window = [True] + [False] * 19 + [True] * 10  # newest first; only 20 count
    assert error_rate(window, limits) == pytest.approx(0.05)
    assert performance_conditions(batch(), limits, rate=0.05) == []  # at the limit: fine
    over = performance_conditions(batch(), limits, rate=2 / 20)
    assert [c.rule for c in over] == ["performance:error_rate"]
    assert over[0].issue_severity == "high"  # 10 % is twice 5 %
    assert over[0].explanation["observed"] == pytest.approx(10.0)
