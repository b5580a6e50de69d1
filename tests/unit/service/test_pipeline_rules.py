import random
from datetime import UTC, datetime

import pytest

from pgwarden.demo import simulator
from pgwarden.errors import InputInvalid
from pgwarden.quality.model import Severity, Violation
from pgwarden.service.ingest import check_metadata, check_source, encode_records
from pgwarden.service.pipeline import blocking_violation


def v(sev, count=3, rule="r", field="value"):
    return Violation(rule=rule, kind="range", field=field, severity=sev, count=count)


def test_blocking_takes_the_worst_violation_at_or_above_the_floor():
    vs = [v(Severity.MEDIUM, rule="m"), v(Severity.CRITICAL, rule="c", count=7), v(Severity.HIGH)]
    assert blocking_violation(vs, "high") == "critical violation of rule c on value: 7 record(s)"
    assert blocking_violation([v(Severity.LOW)], "medium") is None
    assert blocking_violation(vs, "none") is None


def test_source_and_metadata_checks_name_the_field():
    assert check_source("user_events") == "user_events"
    with pytest.raises(InputInvalid, match="source"):
        check_source("bad source!")
    with pytest.raises(InputInvalid, match="metadata.expected_records"):
        check_metadata({"expected_records": "many"})
    with pytest.raises(InputInvalid, match="metadata.data_freshness"):
        check_metadata({"data_freshness": "yesterday"})
    with pytest.raises(InputInvalid, match=r"records\[1\]"):
        encode_records([{"a": 1}, 5])


def test_simulator_is_reproducible_and_has_about_ten_percent_defects():
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    a = simulator.make_batch(random.Random(1), "api_calls", 1, now, size=5000)
    b = simulator.make_batch(random.Random(1), "api_calls", 1, now, size=5000)
    assert a == b
    missing = sum("timestamp" not in r for r in a.records)
    sentinel = sum(r["value"] == simulator.SENTINEL for r in a.records)
    assert 0.07 < (missing + sentinel) / 5000 < 0.13
    assert abs(missing - sentinel) < 150
    assert a.metadata["expected_records"] == 5000
