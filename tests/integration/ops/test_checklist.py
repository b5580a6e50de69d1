from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from pgwarden.errors import InputInvalid
from pgwarden.ops.backup import take_backup
from pgwarden.ops.capacity import capacity_report, sample_sizes
from pgwarden.ops.checklist import (
    CADENCES,
    checklist,
    cross_policy_problems,
    unrunnable_policies,
)
from pgwarden.ops.errors import OpsError
from pgwarden.ops.lifecycle import add_policy, run_policies
from pgwarden.ops.maintenance import analyze, reindex
from pgwarden.ops.verify import verify_backup


def _items(services, cadence):
    return {i.name: i for i in checklist(services, cadence)}


def test_every_cadence_computes_every_item_with_evidence(ops_services):
    for cadence in CADENCES:
        items = checklist(ops_services, cadence)
        assert items and all(i.status in ("pass", "warn", "fail") and i.evidence for i in items)
        assert all(i.fix for i in items if i.status == "fail")
    with pytest.raises(InputInvalid, match="cadence"):
        checklist(ops_services, "hourly")


def test_items_fail_without_evidence_and_pass_with_it(ops_services, sample, conn):
    daily, weekly, monthly = (_items(ops_services, c) for c in ("daily", "weekly", "monthly"))
    pre = _items(ops_services, "pre-deploy")
    assert daily["logical backup"].status == "fail"
    assert weekly["restore verification"].status == "fail"
    assert weekly["ANALYZE (partitioned parents included)"].status == "fail"
    assert monthly["REINDEX"].status == "fail"
    assert monthly["restore test (seed 003 5.5)"].status == "fail"
    assert pre["backup made and verified"].status == "fail"
    assert weekly["retention and masking"].status == "warn"  # no policies at all

    take_backup(ops_services)
    verify_backup(ops_services, "latest")
    analyze(ops_services)
    reindex(ops_services)
    add_policy(ops_services, "retention", "public.customers", "created_at", older_than="200 days")
    daily, weekly, monthly = (_items(ops_services, c) for c in ("daily", "weekly", "monthly"))
    pre = _items(ops_services, "pre-deploy")
    assert daily["logical backup"].status == "pass"
    assert "sha256 re-read" in daily["logical backup"].evidence
    assert weekly["restore verification"].status == "pass"
    assert weekly["ANALYZE (partitioned parents included)"].status == "pass"
    assert monthly["REINDEX"].status == "pass"
    assert monthly["restore test (seed 003 5.5)"].status == "pass"
    assert monthly["tool versions"].status == "pass"
    assert pre["backup made and verified"].status == "pass"
    assert pre["migrations"].status == "pass"
    assert daily["indexes"].status == "pass"
    assert daily["ops jobs"].status == "pass"
    # retention not yet run: customers 200..300 days old (inserted a moment ago)
    assert weekly["retention and masking"].status == "fail"
    assert "101 row(s)" in weekly["retention and masking"].evidence
    with pytest.raises(OpsError, match="still referenced"):
        run_policies(ops_services, "retention")  # orders point at old customers
    conn.execute("DELETE FROM public.orders")
    conn.commit()
    run_policies(ops_services, "retention")
    assert _items(ops_services, "weekly")["retention and masking"].status == "pass"


def test_invalid_index_and_failed_run_fail_the_daily_list(ops_services, conn, db_conninfo):
    conn.execute("CREATE TABLE public.dup (v int); INSERT INTO public.dup VALUES (1), (1)")
    conn.commit()
    with (
        psycopg.connect(db_conninfo, autocommit=True) as c,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        c.execute("CREATE UNIQUE INDEX CONCURRENTLY dup_v ON public.dup (v)")
    conn.execute(
        "INSERT INTO pgwarden.ops_runs (op, target, status, error, finished_at) "
        "VALUES ('backup', 'x', 'FAILED', 'pg_dump exited with status 1', now())"
    )
    conn.commit()
    daily = _items(ops_services, "daily")
    assert daily["indexes"].status == "fail" and "public.dup_v" in daily["indexes"].evidence
    assert daily["ops jobs"].status == "fail" and "pg_dump exited" in daily["ops jobs"].evidence
    assert _items(ops_services, "pre-deploy")["index builds complete"].status == "fail"


def test_capacity_projection_on_synthetic_history(ops_services, conn):
    db = conn.execute("SELECT current_database()").fetchone()[0]
    today = datetime.now(UTC).date()
    for i in range(1, 21):
        conn.execute(
            "INSERT INTO pgwarden.ops_size_history (day, object, kind, bytes) "
            "VALUES (%s, %s, 'database', %s)",
            (today - timedelta(days=i), db, 50_000_000 - i * 1_000_000),
        )
    conn.commit()
    ops_services.config.set("ops.capacity_limit", 10**12)
    report = capacity_report(ops_services)
    d = report["database"]
    assert d["fitted"] and d["method"].startswith("Theil-Sen fit over 2")
    assert d["growth_per_day"] > 0 and d["days_to_limit"] > 30 and not d["alert"]
    assert _items(ops_services, "daily")["capacity"].status == "pass"
    ops_services.config.set("ops.capacity_limit", d["bytes"] + 1000)
    item = _items(ops_services, "daily")["capacity"]
    assert item.status == "fail" and "days to the limit" in item.evidence


def test_capacity_falls_back_when_history_is_short(ops_services):
    assert sample_sizes(ops_services, date(2026, 1, 1)) > 1
    ops_services.config.set("ops.capacity_limit", 10**12)
    d = capacity_report(ops_services)["database"]
    assert not d["fitted"] and d["method"].startswith("fallback 20%/year")


def test_backup_retention_outlasting_masking_is_reported(ops_services, conn):
    conn.execute("CREATE TABLE public.u (email text, created_at timestamptz)")
    conn.commit()
    add_policy(ops_services, "mask", "public.u", "email", method="redact", older_than="90 days")
    problems = cross_policy_problems(ops_services)
    assert len(problems) == 1 and "public.u.email is masked after 90 days" in problems[0]
    assert _items(ops_services, "monthly")["policy review"].status == "warn"
    ops_services.config.set("ops.keep_monthly", 0)
    ops_services.config.set("ops.keep_weekly", 4)
    assert cross_policy_problems(ops_services) == []
    assert unrunnable_policies(ops_services) == []
    conn.execute("ALTER TABLE public.u DROP COLUMN email")
    conn.commit()
    [gone] = unrunnable_policies(ops_services)
    assert "public.u.email no longer exists" in gone


def test_capacity_near_the_limit_raises_an_alert(ops_services):
    from pgwarden.alerts import list_alerts
    from pgwarden.ops.alerting import capacity_checked

    ops_services.config.set("ops.capacity_limit", 1000)  # already over
    report = capacity_report(ops_services)
    assert report["database"]["alert"] and report["database"]["days_to_limit"] == 0
    capacity_checked(ops_services, report)
    [alert] = [a for a in list_alerts(ops_services) if a["rule"] == "ops:capacity"]
    assert alert["status"] == "open" and "reaches its limit in 0" in alert["title"]
