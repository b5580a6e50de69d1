from datetime import UTC, datetime

import pytest

from pgwarden.demo.partitions import register_demo_policies
from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.ops.seed_import import import_seed_config
from pgwarden.partitions import importers, plan_all, run_maintenance, store
from pgwarden.partitions.policy import TableName, build_policy


def counts(conn):
    row = conn.execute(
        "SELECT (SELECT count(*) FROM partition_policies), "
        "(SELECT count(*) FROM partition_policy_audit)"
    ).fetchone()
    conn.commit()
    return row


@pytest.mark.parametrize(
    ("ddl", "field"),
    [
        (None, "table"),
        ("CREATE TABLE public.t (ts timestamptz)", "table"),
        ("CREATE TABLE public.t (ts timestamptz, k text) PARTITION BY LIST (k)", "table"),
        ("CREATE TABLE public.t (n bigint) PARTITION BY RANGE (n)", "key"),
        ("CREATE TABLE public.t (a date, b date) PARTITION BY RANGE (a, b)", "table"),
    ],
)
def test_bad_tables_are_refused_and_nothing_is_written(services, conn, ddl, field):
    if ddl:
        conn.execute(ddl)
        conn.commit()
    with pytest.raises(PartitionPolicyInvalid) as exc:
        store.add_policy(services.db, "public.t", interval="monthly")
    assert exc.value.field == field
    assert "public.t" in str(exc.value)
    assert counts(conn) == (0, 0)


def test_add_set_remove_are_audited_and_hot(services, conn):
    conn.execute("CREATE TABLE public.ev (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.commit()
    store.add_policy(services.db, "public.ev", interval="daily", premake=2)
    with pytest.raises(PartitionPolicyInvalid):
        store.add_policy(services.db, "public.ev", interval="daily")
    now = datetime(2024, 5, 5, 12, tzinfo=UTC)
    assert len(plan_all(services, now=now).actions) == 3
    store.set_policy(services.db, "public.ev", premake=5)
    assert len(plan_all(services, now=now).actions) == 6  # read fresh: no restart
    with pytest.raises(PartitionPolicyInvalid) as exc:
        store.set_policy(services.db, "public.ev", premake=5000)
    assert exc.value.field == "premake" and exc.value.value == 5000
    assert store.get_policy(services.db, "public.ev").premake == 5
    store.remove_policy(services.db, "public.ev")
    changes = [r[2] for r in store.history(services.db, "public.ev")]
    assert changes == ["remove", "set", "add"]
    assert counts(conn) == (0, 3)


def test_demo_policies_register_once_and_run(services, conn):
    first = register_demo_policies(services)
    again = register_demo_policies(services)
    assert first == again
    seed_003 = {
        "judgment_executions": ("monthly", "2 years"),
        "workflow_instances": ("monthly", "1 year"),
        "workflow_execution_logs": ("monthly", "6 months"),
        "llm_calls": ("monthly", "6 months"),
        "mcp_call_logs": ("monthly", "3 months"),
        "audit_logs": ("monthly", "5 years"),
        "raw_mes_production": ("monthly", "90 days"),
        "raw_erp_order": ("monthly", "90 days"),
        "raw_inventory": ("monthly", "90 days"),
        "raw_equipment_event": ("monthly", "90 days"),
        "fact_daily_production": ("quarterly", "2 years"),
        "fact_daily_defect": ("quarterly", "2 years"),
        "fact_inventory_snapshot": ("quarterly", "1 year"),
        "fact_equipment_event": ("quarterly", "1 year"),
        "fact_hourly_production": ("monthly", "3 months"),
    }
    assert {f"pgwarden_demo.{t}" for t in seed_003} <= set(first)
    assert "pgwarden_demo.gear_correlation_raw_metrics" in first
    for table, (interval, retention) in seed_003.items():
        policy = store.get_policy(services.db, f"pgwarden_demo.{table}")
        expected = build_policy(
            TableName("pgwarden_demo", table), interval=interval, retention=retention
        )
        assert (policy.interval_unit, policy.interval_count) == (
            expected.interval_unit,
            expected.interval_count,
        ), table
        assert policy.retention == expected.retention, table
        # six months of partitions, the current one included
        assert policy.premake * policy.interval_count == 6 - policy.interval_count, table
    report = run_maintenance(services, now=datetime(2024, 6, 15, tzinfo=UTC))
    assert report.status == "ok", report.to_dict()
    n = conn.execute(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = 'pgwarden_demo' "
        "AND p.relkind = 'p'"
    ).fetchone()[0]
    assert n == 11 * 6 + 4 * 2 + 4  # 11 monthly x (1+5), 4 quarterly x (1+1), daily 1+3


def test_import_seed_config_keys(services, conn):
    conn.execute("CREATE TABLE public.system_config (key text PRIMARY KEY, value jsonb)")
    conn.execute(
        "INSERT INTO public.system_config VALUES ('partition.raw_metrics.retention_days', '14'), "
        "('partition.raw_metrics.create_ahead_days', '\"5\"'), "
        "('partition.scores.cleanup_days', '30')"
    )
    conn.execute(
        "CREATE TABLE public.gear_correlation_raw_metrics (observed_at timestamptz NOT NULL) "
        "PARTITION BY RANGE (observed_at)"
    )
    conn.commit()
    found = {i.table: i for i in import_seed_config(services, "public")}
    raw = found["public.gear_correlation_raw_metrics"].policy
    assert raw is not None and raw.premake == 5 and raw.retention.days == 14
    assert found["public.detection_model_run_outputs"].policy is None  # no such table here
    # no scores table yet: the clean-up cannot be registered, and says why
    assert "cleanup_days=30 not registered" in found["public.gear_correlation_scores"].problem
    conn.execute(
        "CREATE TABLE public.gear_correlation_scores (id int, last_observed_at timestamptz)"
    )
    conn.commit()
    found = {i.table: i for i in import_seed_config(services, "public")}
    scores = found["public.gear_correlation_scores"]
    assert scores.problem is None and "registered ops retention policy" in scores.note
    from pgwarden.ops.lifecycle import list_policies

    [policy] = list_policies(services, "retention")
    assert (policy.table, policy.column, policy.older_than) == (
        "public.gear_correlation_scores",
        "last_observed_at",
        "30 days",
    )
    assert importers.import_partman(services) == []  # no pg_partman in this database


def test_import_partman_where_it_is_installed(services, conn):
    available = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'"
    ).fetchone()
    conn.commit()
    if available == (0,):
        pytest.skip("pg_partman is not installed for this server (run with --pg-bin for PG 15)")
    conn.execute("CREATE SCHEMA partman")
    conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
    conn.execute("CREATE TABLE public.pm (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    conn.execute(
        "SELECT partman.create_parent('public.pm', 'ts', 'native', 'monthly', p_premake := 2, "
        "p_jobmon := false)"
    )
    conn.execute("UPDATE partman.part_config SET retention = '3 months'")
    conn.commit()
    found = importers.import_partman(services)
    assert [i.table for i in found] == ["public.pm"]
    policy = store.get_policy(services.db, "public.pm")
    assert (policy.interval, policy.premake, policy.retention.months) == ("monthly", 2, 3)
    assert policy.retention_action == "detach"  # partman's retention_keep_table default
    plan = plan_all(services)
    assert all(w.kind != "overlap" for w in plan.warnings)


def test_pgwarden_keeps_its_own_tables_by_policy(services, conn):
    from pgwarden.partitions import register_internal_policies

    conn.execute(
        "INSERT INTO quality_batches (batch_id, source, received_at, checked_at, records, status) "
        "VALUES ('b1', 's', '2024-06-10 12:00+00', '2024-06-10 12:00+00', 1, 'ACCEPTED')"
    )
    conn.commit()
    first = register_internal_policies(services)
    assert register_internal_policies(services) == first
    assert {t.split(".")[1] for t in first} == {
        "detection_model_run_outputs",
        "quality_batches",
        "quality_violations",
        "health_snapshots",
        "health_statements",
    }
    report = run_maintenance(services, now=datetime(2024, 6, 15, tzinfo=UTC))
    assert report.status == "ok", report.to_dict()
    assert conn.execute("SELECT count(*) FROM quality_batches_default").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM quality_batches").fetchone() == (1,)
