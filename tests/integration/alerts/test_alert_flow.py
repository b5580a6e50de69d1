"""after_batch on the real server: explained alerts, dedup, cool-down, auto-resolve, anomalies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgwarden import alerts
from pgwarden.errors import InputInvalid, NotFound
from pgwarden.quality.hooks import after_batch
from pgwarden.quality.model import Severity, Violation
from pgwarden.quality.report import list_anomalies

from .helpers import SCHEMA, bad_range, result, store_history, store_row

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _autocommit(conn):
    # The hook runs on a connection with no transaction open (the checker has
    # just committed); the tests' own reads on `conn` must not open one.
    conn.autocommit = True


def deliveries(conn):
    return conn.execute(
        "SELECT alert_id, event, channel, status FROM alert_deliveries ORDER BY id"
    ).fetchall()


def test_an_alert_explains_itself_and_the_hook_is_idempotent(services, conn):
    services.config.set("alerts.deliver_inline", False)
    r = result("b1", T0, violations=(bad_range(50),))
    outcome = after_batch(conn, SCHEMA, r, services.config)
    assert outcome is not None and len(outcome.alerts["opened"]) == 1
    assert after_batch(conn, SCHEMA, r, services.config) is None  # same batch: nothing again
    [alert] = alerts.list_alerts(services)
    assert alert["rule"] == "rule:value_range" and alert["severity"] == "high"
    exp = alert["explanation"]
    assert exp["observed"] == 50 and exp["expected_range"] == [0, 0]
    assert exp["severity_rule"] == "high: a high-severity rule was broken"
    assert exp["sample_ids"] == ["r1", "r2"] and exp["top_fields"] == [{"field": "value"}]
    assert exp["batch"]["expected_records"] == 1000 and exp["batch"]["source_system"] == "crm"
    assert "sentinel" in exp["recommendation"]
    assert deliveries(conn) == [(alert["id"], "opened", "log", "pending")]
    daily = conn.execute("SELECT batches, issues, violation_count FROM quality_daily").fetchall()
    assert daily == [(1, 1, 50)]


def test_a_weaker_repeat_keeps_the_worst_batchs_label_and_evidence(services, conn):
    services.config.set("alerts.deliver_inline", False)
    worst = Violation("value_range", "range", "value", Severity.CRITICAL, 900, ("r9",), "value < 0")
    after_batch(conn, SCHEMA, result("b1", T0, violations=(worst,)), services.config)
    after_batch(
        conn, SCHEMA, result("b2", T0 + timedelta(minutes=5), violations=(bad_range(3),)),
        services.config,
    )  # fmt: skip
    [a] = alerts.list_alerts(services)
    assert a["severity"] == "critical" and a["occurrences"] == 2
    assert a["explanation"]["observed"] == 900 and a["batch_id"] == "b1"
    assert a["last_seen"] == T0 + timedelta(minutes=5)
    assert [d[1] for d in deliveries(conn)] == ["opened"]  # no second notification


def test_dedup_cool_down_and_auto_resolve(services, conn):
    services.config.set("alerts.deliver_inline", False)
    services.config.set("alerts.cooldown_minutes", 60)
    bad = (bad_range(),)
    after_batch(conn, SCHEMA, result("b1", T0, violations=bad), services.config)
    after_batch(
        conn, SCHEMA, result("b2", T0 + timedelta(minutes=5), violations=bad), services.config
    )
    [a] = alerts.list_alerts(services)
    assert a["occurrences"] == 2 and a["status"] == "open"  # deduplicated
    after_batch(conn, SCHEMA, result("b3", T0 + timedelta(minutes=10)), services.config)
    assert alerts.list_alerts(services)[0]["status"] == "open"  # one clean batch is not enough
    after_batch(conn, SCHEMA, result("b4", T0 + timedelta(minutes=15)), services.config)
    [a] = alerts.list_alerts(services)
    assert a["status"] == "resolved" and a["resolved_by"] == "auto"
    # Back within the cool-down: the same alert reopens, with no new notification.
    after_batch(
        conn, SCHEMA, result("b5", T0 + timedelta(minutes=20), violations=bad), services.config
    )
    [a] = alerts.list_alerts(services)
    assert a["status"] == "open" and a["reopened"] == 1
    assert [d[1] for d in deliveries(conn)] == ["opened", "resolved"]
    # After the cool-down it is a new alert and notifies again.
    alerts.resolve(services, a["id"], "tester", now=T0 + timedelta(minutes=21))
    after_batch(
        conn, SCHEMA, result("b6", T0 + timedelta(hours=3), violations=bad), services.config
    )
    rows = alerts.list_alerts(services)
    assert len(rows) == 2 and rows[0]["status"] == "open" and rows[1]["resolved_by"] == "tester"
    assert [d[1] for d in deliveries(conn)] == ["opened", "resolved", "opened"]
    assert alerts.open_alert_counts(services) == {"medium": 0, "high": 1, "critical": 0}


def test_acknowledge_resolve_and_bad_input(services, conn):
    services.config.set("alerts.deliver_inline", False)
    after_batch(conn, SCHEMA, result("b1", T0, violations=(bad_range(),)), services.config)
    [a] = alerts.list_alerts(services, status="open")
    assert alerts.acknowledge(services, a["id"], "ana")["status"] == "acknowledged"
    assert alerts.list_alerts(services, status="acknowledged")[0]["acknowledged_by"] == "ana"
    assert alerts.resolve(services, a["id"], "ana")["status"] == "resolved"
    with pytest.raises(NotFound, match="alert 999"):
        alerts.acknowledge(services, 999, "ana")
    with pytest.raises(InputInvalid, match="status"):
        alerts.list_alerts(services, status="closed")


def test_low_score_and_rejected_batches_alert(services, conn):
    services.config.set("alerts.deliver_inline", False)
    after_batch(conn, SCHEMA, result("b1", T0, overall=0.4), services.config)
    from pgwarden.quality.model import BatchStatus

    after_batch(
        conn, SCHEMA, result("b2", T0 + timedelta(minutes=1), status=BatchStatus.REJECTED),
        services.config,
    )  # fmt: skip
    rules = {a["rule"]: a for a in alerts.list_alerts(services)}
    assert rules["score"]["severity"] == "high"  # below 0.5
    assert "broken JSON" in rules["rejected"]["explanation"]["recommendation"]
    day = conn.execute("SELECT batches, accepted, rejected FROM quality_daily").fetchone()
    assert day == (2, 1, 1)


def test_a_volume_spike_over_stored_history_is_an_explained_anomaly(services, conn):
    services.config.set("alerts.deliver_inline", False)
    store_history(conn, "user_events", T0 - timedelta(days=3), 72)
    spike = store_row(conn, result("spike", T0, records=5000))
    outcome = after_batch(conn, SCHEMA, spike, services.config)
    assert outcome is not None and outcome.evaluation is not None
    assert [r.key for r in outcome.evaluation.anomalies] == ["volume"]
    [found] = list_anomalies(services, source="user_events")
    assert found["metric"] == "volume" and found["observed"] == 5000 and found["score"] > 0.999
    [a] = alerts.list_alerts(services)
    assert a["rule"] == "anomaly:volume" and a["severity"] == "critical"
    exp = a["explanation"]
    assert exp["window"]["points"] == 72 and exp["method"].startswith("negative binomial")
    assert exp["expected_range"][1] < 5000 and "replays" in exp["recommendation"]
    # graded by the detector on effect and evidence (issue 11 point 3), passed through as is
    assert exp["severity_rule"].startswith("critical: volume effect")
    # A normal batch next hour: no anomaly, and the spike stays out of the baseline.
    nxt = store_row(conn, result("next", T0 + timedelta(hours=1)))
    normal = after_batch(conn, SCHEMA, nxt, services.config)
    assert normal is not None and not normal.evaluation.anomalies
    flagged = conn.execute(
        "SELECT metric FROM quality_anomalies WHERE batch_id = 'spike'"
    ).fetchall()
    assert flagged == [("volume",)]


def test_insufficient_history_is_recorded(services, conn):
    outcome = after_batch(conn, SCHEMA, result("first", T0), services.config)
    assert outcome is not None
    summary = conn.execute(
        "SELECT insufficient, summary->'volume'->>'status' FROM quality_evaluations"
    ).fetchone()
    assert summary[0] >= 1 and summary[1] == "insufficient_history"
