"""Seed 004's performance thresholds raise alerts through the batch pipeline (real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgwarden import alerts
from pgwarden.quality.batch import DataBatch
from pgwarden.service.pipeline import check_and_alert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def batch(batch_id: str, at: datetime, records=None) -> DataBatch:
    recs = records if records is not None else [{"id": f"{batch_id}-{i}", "v": i} for i in range(5)]
    return DataBatch(source="perf", records=recs, id=batch_id, received_at=at)


def open_rules(services) -> dict[str, str]:
    return {
        a["rule"]: a["severity"] for a in alerts.list_alerts(services, status="open", source="perf")
    }


def test_slow_batches_raise_and_resolve_a_processing_time_alert(services):
    services.config.set("alerts.deliver_inline", False)
    services.config.set("quality.processing_time_max", 0.001)  # every batch is "slow"
    check_and_alert(services, batch("p1", NOW), now=NOW)
    rules = open_rules(services)
    assert "performance:processing_time" in rules
    found = alerts.list_alerts(services, source="perf")[0]
    assert found["explanation"]["expected"] == 0.001
    assert found["explanation"]["observed"] > 0.001
    assert "processing_time_max" in found["explanation"]["recommendation"]
    services.config.set("quality.processing_time_max", 30.0)  # seed 004's limit
    for i in range(2):  # two clean batches resolve it (alerts.resolve_after)
        at = NOW + timedelta(minutes=i + 1)
        check_and_alert(services, batch(f"p{i + 2}", at), now=at)
    assert "performance:processing_time" not in open_rules(services)


def test_a_rejected_batch_rate_over_5_percent_raises_an_alert(services):
    services.config.set("alerts.deliver_inline", False)
    for i in range(9):
        at = NOW + timedelta(minutes=i)
        check_and_alert(services, batch(f"ok{i}", at), now=at)
    assert "performance:error_rate" not in open_rules(services)
    at = NOW + timedelta(minutes=10)
    check_and_alert(services, batch("bad", at, records=b"{broken"), now=at)
    # one rejected batch in the last ten: 10 % > 5 %, twice the limit: high
    assert open_rules(services)["performance:error_rate"] == "high"
