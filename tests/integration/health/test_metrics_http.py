"""/metrics over HTTP: every compatibility name, bounded series, served from the cache."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pgwarden import health

COMPAT = Path(__file__).with_name("compat_metrics.tsv")


def compat_names() -> list[str]:
    lines = COMPAT.read_text(encoding="utf-8").splitlines()
    return [ln.split("\t")[0] for ln in lines if ln and not ln.startswith("#")]


@pytest.fixture
def scrape(services):
    registry = CollectorRegistry(auto_describe=False)
    health.register_metrics(registry, services)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    def get() -> str:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        return response.text

    try:
        yield get
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_every_compatibility_name_is_on_the_scrape(services, autocommit, scrape):
    autocommit.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    autocommit.execute("SELECT count(*) FROM pg_class")
    autocommit.execute("SELECT pg_create_physical_replication_slot('pgw_health_slot')")
    try:
        health.collect(services, force=True)
        got = samples(scrape())
    finally:
        autocommit.execute("SELECT pg_drop_replication_slot('pgw_health_slot')")
    missing = [n for n in compat_names() if n not in got]
    assert missing == []
    assert len(compat_names()) >= 71
    # the exporter's label sets, plus `target`
    act = got["pg_stat_activity_count"][0].labels
    assert set(act) == {"target", "datname", "state"}
    assert set(got["pg_locks_count"][0].labels) == {"target", "datname", "mode"}
    assert {s.labels["mode"] for s in got["pg_locks_count"]} >= {"accessexclusivelock"}
    assert set(got["pg_stat_database_xact_commit"][0].labels) == {"target", "datid", "datname"}
    assert set(got["pg_stat_user_tables_n_dead_tup"][0].labels) == {
        "target", "datname", "schemaname", "relname"
    }  # fmt: skip
    assert set(got["pg_stat_statements_calls_total"][0].labels) == {
        "target", "user", "datname", "queryid"
    }  # fmt: skip
    assert got["pg_up"][0].value == 1
    slot = [
        s for s in got["pg_replication_slots_active"] if s.labels["slot_name"] == "pgw_health_slot"
    ]
    assert slot and slot[0].value == 0


def test_scrapes_serve_the_cache_and_never_query_the_target(services, scrape, autocommit):
    health.collect(services, force=True)
    before = autocommit.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgwarden-health'"
    ).fetchone()

    def pg_lines() -> list[str]:
        return [ln for ln in scrape().splitlines() if not ln.startswith(("process_", "# "))]

    first = pg_lines()
    for _ in range(3):
        assert pg_lines() == first  # same snapshot, same text: nothing was collected
    after = autocommit.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgwarden-health'"
    ).fetchone()
    assert before == after == (0,)


def test_two_thousand_tables_stay_within_the_series_budget(services, autocommit, scrape):
    autocommit.execute("CREATE SCHEMA IF NOT EXISTS bench")
    for p in range(8):
        autocommit.execute(
            f"CREATE TABLE bench.events_{p} (id int, at int NOT NULL) PARTITION BY RANGE (at)"
        )
        for i in range(50):
            autocommit.execute(
                f"CREATE TABLE bench.events_{p}_{i} PARTITION OF bench.events_{p} "
                f"FOR VALUES FROM ({i * 10}) TO ({i * 10 + 10})"
            )
    for i in range(200):
        autocommit.execute(f"CREATE TABLE bench.plain_{i} (id int)")
    services.config.set("health.series_budget", 1500)
    health.collect(services, force=True)
    got = samples(scrape())
    total = sum(len(v) for k, v in got.items() if not k.startswith(("process_", "python_")))
    assert total <= 1500
    rel = {
        (s.labels["schemaname"], s.labels["relname"]) for s in got["pg_stat_user_tables_n_dead_tup"]
    }
    assert ("__other__", "__other__") in rel  # what did not fit is summed, not dropped
    parents = {s.labels["relname"] for s in got["pgwarden_db_partitions"]}
    assert {f"events_{p}" for p in range(8)} <= parents
    assert all(
        s.value == 50 for s in got["pgwarden_db_partitions"] if s.labels["schemaname"] == "bench"
    )
    budget = got["pgwarden_db_series_budget"][0].value
    assert budget == 1500


def test_the_standalone_server_serves_metrics_only(services):
    from pgwarden.health.exporter import serve_http

    rt = health.runtime_for(services)
    rt.collect(force=True, alert=False)
    server, thread = serve_http(rt, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        got = samples(httpx.get(f"{base}/metrics", timeout=10).text)
        assert got["pg_up"][0].value == 1 and "process_resident_memory_bytes" in got
        assert httpx.get(f"{base}/", timeout=10).status_code == 404
        before = httpx.get(f"{base}/metrics", timeout=10).text.split("# HELP process_")[0]
        rt.collect(alert=False)  # a new round: the text is rendered again, once
        after = httpx.get(f"{base}/metrics", timeout=10).text.split("# HELP process_")[0]
        assert before != after
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
