"""A source that stops sending raises `silence`, which resolves when it sends again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgwarden import alerts
from pgwarden.quality.silence import check_silence
from tests.integration.alerts.helpers import result, store_row

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


def silence_alerts(services, status=None):
    return [
        a for a in alerts.list_alerts(services, status=status, source="user_events")
        if a["rule"] == "silence"
    ]  # fmt: skip


def test_a_silent_source_is_caught_and_released(services, conn):
    services.config.set("alerts.deliver_inline", False)
    services.config.set("quality.silence_floor_seconds", 60)
    for i in range(30):  # every five minutes, 00:00 .. 02:25
        store_row(conn, result(f"b{i}", START + timedelta(minutes=5 * i)))
    last = START + timedelta(minutes=5 * 29)
    # 1.5 x 5 min allowed: at 7 minutes it is fine, at 8 it is silent
    assert check_silence(services, now=last + timedelta(minutes=7)).silent == []
    report = check_silence(services, now=last + timedelta(minutes=8))
    assert report.silent == ["user_events"] and len(report.opened) == 1
    found = silence_alerts(services, "open")
    assert len(found) == 1 and found[0]["severity"] == "high"
    why = found[0]["explanation"]
    assert why["observed"] == 8 * 60 and why["expected"] == 300
    assert why["expected_range"] == [0, 450]
    # still silent later: the same alert, not a second one
    check_silence(services, now=last + timedelta(minutes=20))
    assert len(silence_alerts(services)) == 1
    # batches resume: the next check resolves it at once
    store_row(conn, result("back", last + timedelta(minutes=21)))
    report = check_silence(services, now=last + timedelta(minutes=22))
    assert report.silent == [] and report.resolved == [found[0]["id"]]
    assert silence_alerts(services, "open") == []


def test_the_silence_check_leaves_other_alerts_alone(services, conn):
    services.config.set("alerts.deliver_inline", False)
    with conn.transaction():
        other = alerts.raise_alerts(
            conn, "pgwarden", "user_events", "x",
            [alerts.Condition("rule:value_range", "issue", "range", issue_severity="high")],
            START, alerts.settings_from(services.config),
        )  # fmt: skip
    for i in range(12):
        store_row(conn, result(f"c{i}", START + timedelta(minutes=i)))
    for k in range(3):  # three checks that find nothing silent
        check_silence(services, now=START + timedelta(minutes=12 + k * 0.1))
    row = alerts.get_alert(services, other["opened"][0])
    assert row["status"] == "open"  # not counted clean by checks that are not about it


def test_the_check_runs_every_minute_as_a_periodic_task(services):
    from pgwarden.service.job_queue import build_app
    from pgwarden.service.tasks import SILENCE

    app = build_app(services, pool_size=1)
    periodic = {p.task.name: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic[SILENCE] == services.config.get("quality.silence_cron") == "* * * * *"
