"""Rules evaluated on stored snapshots into the alerts pipeline; the report from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgwarden import alerts, health
from pgwarden.health import report, store

from .conftest import flush_stats


def test_a_down_target_opens_one_alert_after_the_for_window(services):
    store.add_target(services.db, "gone", "host=127.0.0.1 port=1 dbname=x connect_timeout=1",
                     check=False)  # fmt: skip
    rt = health.runtime_for(services)
    now = datetime.now(UTC)
    rt.collect(only="gone", now=now - timedelta(seconds=90))
    assert alerts.list_alerts(services, source="health:gone") == []  # not before `for: 1m`
    rt.collect(only="gone", now=now - timedelta(seconds=20))
    rt.collect(only="gone", now=now)
    found = alerts.list_alerts(services, source="health:gone")
    assert [(a["rule"], a["severity"], a["status"]) for a in found] == [
        ("PostgresqlDown", "critical", "open")
    ]
    assert found[0]["occurrences"] == 2  # deduplicated, not a second alert
    assert "pg_up == 0" in found[0]["explanation"]["expr"]


def test_report_json_and_html_from_stored_snapshots(services, autocommit, tmp_path):
    autocommit.execute(
        "CREATE TABLE public.grows (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false)"
    )
    autocommit.execute("CREATE INDEX grows_v ON public.grows (v)")
    rt = health.runtime_for(services)
    now = datetime.now(UTC)
    rt.collect(force=True, now=now - timedelta(minutes=10), alert=False)
    autocommit.execute("INSERT INTO public.grows SELECT g, 'x' FROM generate_series(1, 20000) g")
    autocommit.execute("DELETE FROM public.grows WHERE id % 2 = 0")
    flush_stats(autocommit)
    rt.collect(force=True, now=now - timedelta(minutes=5), alert=False)
    rt.collect(force=True, now=now, alert=False)
    data = report.build(services, "self", report.PERIODS["daily"], now=now + timedelta(seconds=1))
    assert data["snapshots"] == 3 and len(data["series"]) == 3
    grows = next(g for g in data["growth"] if g["table"] == "public.grows")
    assert grows["growth_bytes"] > 0
    assert any(d["table"] == "public.grows" for d in data["vacuum_debt"])
    assert 'VACUUM (ANALYZE) "public"."grows";' in data["actions"]
    assert any(u["index"] == "public.grows_v" for u in data["unused_indexes"])
    text = report.to_json(data)
    assert '"target": "self"' in text
    html = report.to_html(data)
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
