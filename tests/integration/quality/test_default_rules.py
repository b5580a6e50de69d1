"""A source with no stored rules is checked against seed 004's defaults, and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgwarden import quality
from pgwarden.quality.batch import DataBatch
from pgwarden.quality.output import result_to_dict
from pgwarden.service.pipeline import check_and_alert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def seed_records(n: int = 2000) -> list[dict]:
    """The seed's shape; 5 % without timestamp, 5 % with value -999, 10 ids sent twice."""
    stamp = (NOW - timedelta(minutes=5)).isoformat()
    out = []
    for i in range(n):
        rec = {"id": f"r{i}", "timestamp": stamp, "data": {"value": i % 1000, "status": "ok"}}
        if i % 20 == 0:
            del rec["timestamp"]
        elif i % 20 == 1:
            rec["data"]["value"] = -999
        out.append(rec)
    out[-10:] = [{**r, "id": f"r{k}"} for k, r in zip(range(100, 110), out[-10:], strict=True)]
    return out


def test_the_seed_defaults_apply_until_rules_are_set(services):
    services.config.set("alerts.deliver_inline", False)
    batch = DataBatch(source="events", records=seed_records(), id="d1", received_at=NOW)
    result = check_and_alert(services, batch, now=NOW)
    assert result.rules_version is None and result.counts["default_rules"] == 1
    by_rule = {v.rule: v.count for v in result.violations}
    assert by_rule["required:timestamp"] == 100
    assert by_rule["unique:id"] >= 10  # the duplicated ids are found
    assert "required:data" in result.rule_counts and "freshness:timestamp" in result.rule_counts
    assert result.scores.completeness == pytest.approx(0.95)  # record level, as the seed
    doc = result_to_dict(result)
    assert doc["rules_note"].startswith(
        "no rules stored for source events: the default rules applied"
    )
    assert doc["scores"]["completeness_level"] == "record"
    assert doc["scores"]["formulas"]["completeness"].startswith("1 - incomplete_records")
    # stored and read back, the result still says how it was checked
    stored = quality.get_batch(services, "d1")
    assert stored is not None and stored.counts["default_rules"] == 1
    # `quality rules set` replaces the defaults (and may choose cell-level completeness)
    quality.set_rules(
        services, "events",
        "completeness: cell\nrules:\n  - {kind: required, fields: [id, timestamp, data]}\n", "t",
    )  # fmt: skip
    later = NOW + timedelta(minutes=1)
    batch = DataBatch(source="events", records=seed_records(), id="d2", received_at=later)
    again = check_and_alert(services, batch, now=later)
    assert again.rules_version == 1 and again.counts["default_rules"] == 0
    assert "unique:id" not in again.rule_counts
    assert again.scores.completeness == pytest.approx(1 - 100 / 6000)  # cells
    doc = result_to_dict(again)
    assert doc["rules_note"] is None and doc["scores"]["completeness_level"] == "cell"
    assert doc["scores"]["formulas"]["completeness"].startswith("1 - missing_required")
