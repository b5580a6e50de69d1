"""The daily report from merged state on the real server, by hand-computed numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from pgwarden.quality.hooks import after_batch
from pgwarden.quality.report import daily_report, write_due_report
from tests.integration.alerts.helpers import SCHEMA, bad_range, result, store_row

DAY = date(2026, 3, 10)


@pytest.fixture
def filled(services, conn):
    conn.autocommit = True
    services.config.set("alerts.deliver_inline", False)
    t = datetime(2026, 3, 9, 10, tzinfo=UTC)
    # Day before: two batches of a, one failing the range rule 20 times.
    after_batch(
        conn, SCHEMA, result("a1", t, overall=0.9, violations=(bad_range(20),)), services.config
    )
    after_batch(conn, SCHEMA, result("a2", t + timedelta(hours=1), overall=0.8), services.config)
    t = datetime(2026, 3, 10, 10, tzinfo=UTC)
    after_batch(conn, SCHEMA, result("a3", t, records=500, overall=0.9, seconds=0.5,
                                      violations=(bad_range(5),)), services.config)  # fmt: skip
    after_batch(conn, SCHEMA, result("a4", t + timedelta(hours=1), records=1500, overall=0.7,
                                      seconds=0.3), services.config)  # fmt: skip
    after_batch(conn, SCHEMA, result("b1", t, source="api_calls", records=10, overall=1.0),
                services.config)  # fmt: skip
    return services


def test_daily_report_numbers(filled):
    r = daily_report(filled, DAY)
    a = next(s for s in r.sources if s.source == "user_events")
    assert (a.total_batches, a.total_records) == (2, 2000)
    assert a.average_quality_score == pytest.approx(0.8)
    assert a.average_processing_time == pytest.approx(0.4)
    assert a.peak_records_per_second == pytest.approx(5000.0)  # 1500 / 0.3
    assert a.total_quality_issues == 1 and a.violations == 5
    assert [(x.rule, x.failures, x.previous, x.change) for x in a.top_rules] == [
        ("value_range", 5, 20, -15)
    ]
    assert a.trend.label == "insufficient history"  # two days of scores
    assert r.total_batches == 3 and r.total_records == 2010
    assert r.average_quality_score == pytest.approx((0.9 + 0.7 + 1.0) / 3)
    assert [s.source for s in r.sources] == ["api_calls", "user_events"]
    json.dumps(r.to_dict())  # serialisable as is


def test_the_periodic_report_is_written_once_with_html(filled, tmp_path):
    filled.config.set("report.html_dir", str(tmp_path))
    now = datetime(2026, 3, 11, 0, 15, tzinfo=UTC)
    assert write_due_report(filled, now) == DAY
    assert write_due_report(filled, now) is None  # once
    page = (tmp_path / "quality-report-2026-03-10.html").read_text()
    assert "<svg" in page and "user_events" in page
    with filled.db.connection() as conn:
        stored = conn.execute("SELECT report FROM quality_reports WHERE day = %s", [DAY]).fetchone()
    assert stored[0]["total_batches"] == 3


def test_report_command_prints_json_and_writes_html(filled, db_conninfo, tmp_path):
    env = {**os.environ, "PGWARDEN_DSN": db_conninfo, "PGWARDEN_SCHEMA": SCHEMA}
    page = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "pgwarden", "quality", "report", "--date", "2026-03-10",
         "--json", "--html", str(page)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_records"] == 2010
    assert page.read_text().startswith("<!doctype html>")
    bad = subprocess.run(
        [sys.executable, "-m", "pgwarden", "quality", "report", "--date", "10/03/2026"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "--date" in bad.stderr


def test_a_first_day_gets_a_trend_from_within_the_day(services, conn):
    from pgwarden.quality import daily

    conn.autocommit = True
    start = datetime(2026, 3, 10, 8, tzinfo=UTC)
    for hour in range(5):  # the score falls 0.03 an hour on the source's first day
        r = result(
            f"h{hour}", start + timedelta(hours=hour), source="crm", overall=0.95 - 0.03 * hour
        )
        store_row(conn, r)
        daily.merge(conn, SCHEMA, r, UTC)
    rep = daily_report(services, DAY)
    crm = next(s for s in rep.sources if s.source == "crm")
    assert crm.trend.per == "hour" and crm.data_quality_trend == "degrading"
    assert crm.trend.slope == pytest.approx(-0.03)
    d = rep.to_dict()
    assert d["sources"][0]["data_quality_trend"] == "degrading"
    assert d["date"] == "2026-03-10" and d["average_quality_score"] == pytest.approx(0.89)
