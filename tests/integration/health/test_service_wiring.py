"""Health inside `pgwarden run`: /metrics, the API routes, the database page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pgwarden import health
from pgwarden.config.runtime import RuntimeConfig
from pgwarden.service.web import create_app
from pgwarden.services import Services
from tests.conftest import make_settings

TOKEN = "h3alth-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN))
    services = Services(db=db, config=RuntimeConfig(db))
    with TestClient(create_app(services)) as c:
        c.services = services  # type: ignore[attr-defined]
        yield c
    db.close()


def test_run_metrics_carry_health_and_pipeline_families(client):
    health.collect(client.services, force=True)
    text = client.get("/metrics").text
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert {"pg_up", "pg_stat_database_xact_commit", "pgwarden_db_lock_waits"} <= names
    assert "pgwarden_alerts_open" in names  # the pipeline's own families are still there
    assert "process_cpu_seconds_total" in names


def test_health_api_routes(client):
    health.collect(client.services, force=True)
    targets = client.get("/api/health/targets", headers=AUTH)
    assert targets.status_code == 200 and targets.json()[0]["name"] == "self"
    check = client.get("/api/health/check", headers=AUTH).json()
    assert check["exit_code"] in (0, 1, 2) and check["targets"][0]["items"]
    assert client.get("/api/health/locks", headers=AUTH).json()["waits"] == []
    unknown = client.get("/api/health/locks?target=nope", headers=AUTH)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]["message"]
    bad = client.get("/api/health/report?period=hourly", headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "period"
    html = client.get("/api/health/report?format=html", headers=AUTH)
    assert html.status_code == 200 and html.text.startswith("<!doctype html>")


def test_database_page_renders(client):
    health.collect(client.services, force=True)
    page = client.get("/database", headers=AUTH)
    assert page.status_code == 200
    assert "Lock waits now" in page.text and "Biggest tables" in page.text
    assert 'href="/database"' in page.text


def test_the_collection_task_is_periodic_and_fills_the_cache(services):
    from pgwarden.health.tasks import TASK
    from pgwarden.service.job_queue import build_app

    app = build_app(services, pool_size=1)
    periodic = {p.task.name: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic[TASK] == services.config.get("health.collect_cron") == "* * * * *"
    app.tasks[TASK]()  # run the task's function in process, as a worker would
    assert [s.target for s in health.runtime_for(services).cached()] == ["self"]


def test_snapshots_and_statement_samples_are_kept_by_internal_policies(services):
    from pgwarden.partitions import register_internal_policies, run_maintenance

    done = register_internal_policies(services)
    assert {"pgwarden.health_snapshots", "pgwarden.health_statements"} <= set(done)
    run_maintenance(services)
    with services.db.connection() as conn:
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'pgwarden.health_snapshots'::regclass"
        ).fetchone()
    assert parts is not None and parts[0] > 1  # dated partitions beside the default one
