from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.service.web import create_app
from pgwarden.services import Services
from tests.conftest import make_settings

TOKEN = "ops-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(db_conninfo, tmp_path):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN))
    services = Services(db=db, config=RuntimeConfig(db))
    services.config.set("ops.backup_dir", str(tmp_path / "b"))
    with TestClient(create_app(services), raise_server_exceptions=False) as c:
        c.services = services
        yield c
    db.close()


def test_ops_endpoints_read_the_evidence(client):
    from pgwarden.ops.backup import take_backup

    take_backup(client.services)
    backups = client.get("/api/ops/backups", headers=AUTH).json()
    assert backups[0]["status"] == "COMPLETE" and backups[0]["age_hours"] >= 0
    runs = client.get("/api/ops/runs?op=backup", headers=AUTH).json()
    assert runs[0]["status"] == "OK" and runs[0]["result"]["backup_id"] == backups[0]["id"]
    items = client.get("/api/ops/checklist/daily", headers=AUTH).json()
    assert {"logical backup", "indexes"} <= {i["name"] for i in items}
    assert client.get("/api/ops/capacity", headers=AUTH).json()["database"]["bytes"] > 0
    assert client.get("/api/ops/policies", headers=AUTH).json() == []


def test_ops_bad_input_is_a_4xx_naming_it(client):
    r = client.get("/api/ops/checklist/hourly", headers=AUTH)
    assert r.status_code == 422 and "cadence" in r.text
    r = client.post("/api/ops/run/format-disk", headers=AUTH)
    assert r.status_code == 422 and "task" in r.text
    assert client.post("/api/ops/run/backup").status_code == 401
    r = client.get("/api/ops/policies?kind=nope", headers=AUTH)
    assert r.status_code == 422


def test_ops_tasks_are_periodic_on_their_cron_keys(services):
    from pgwarden.ops.tasks import TASKS
    from pgwarden.service.job_queue import build_app

    app = build_app(services, pool_size=1)
    names = set(app.tasks)
    assert set(TASKS) <= names
    periodic = {p.task.name: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic["pgwarden.ops.backup"] == services.config.get("ops.backup_cron")
    assert periodic["pgwarden.ops.reindex"] == "0 4 2 * *"
