import pytest
from fastapi.testclient import TestClient

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.service.api.auth import new_token
from pgwarden.service.web import create_app
from pgwarden.services import Services
from tests.conftest import make_settings

TOKEN = "t0ps3cret-token"


@pytest.fixture
def client(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN, max_body_bytes=4096))
    services = Services(db=db, config=RuntimeConfig(db))
    with TestClient(create_app(services)) as c:
        c.services = services
        yield c
    db.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_post_requires_a_valid_token(client):
    body = {"source": "api_calls", "records": [{"id": 1}]}
    missing = client.post("/api/batches", json=body)
    assert missing.status_code == 401 and "bearer" in missing.json()["error"]["message"]
    wrong = client.post("/api/batches", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.post("/api/batches", json=body, headers=AUTH)
    assert ok.status_code == 202 and ok.json()["status"] == "PENDING"
    stored = new_token(client.services, "second")
    also = client.post(
        "/api/batches",
        json={**body, "batch_id": "x2"},
        headers={"Authorization": f"Bearer {stored}"},
    )
    assert also.status_code == 202


def test_batch_is_accepted_as_json_lines_and_listed(client):
    r = client.post(
        "/api/batches?source=user_events&expected_records=2&batch_id=jl-1",
        content=b'{"id": 1}\n{"id": 2}\n',
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 202, r.text
    again = client.post(
        "/api/batches?source=user_events&batch_id=jl-1",
        content=b'{"id": 1}\n',
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )
    assert again.json()["duplicate"] is True
    listed = client.get("/api/batches?source=user_events").json()
    assert [b["batch_id"] for b in listed] == ["jl-1"]
    assert listed[0]["metadata"] == {"expected_records": 2}


@pytest.mark.parametrize(
    ("body", "ctype", "field"),
    [
        (b"{broken", "application/json", "body"),
        (b'{"source": "s", "records": [1, 2]}', "application/json", "records[0]"),
        (b'{"source": "s", "records": "nope"}', "application/json", "records"),
        (b'{"source": "bad source", "records": [{"a": 1}]}', "application/json", "source"),
        (b'{"source": "s", "records": []}', "application/json", "records"),
        (b"\xff\xfe", "application/json", "body"),
        (b'{"a": 1}\n[1]\n', "application/x-ndjson", "line 2"),
    ],
)
def test_malformed_bodies_get_422_naming_the_field(client, body, ctype, field):
    r = client.post("/api/batches?source=s", content=body, headers={**AUTH, "Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert client.get("/api/batches").json() == []


def test_oversized_body_is_413_and_nothing_is_stored(client):
    big = b'{"source": "s", "records": [{"x": "' + b"a" * 5000 + b'"}]}'
    r = client.post(
        "/api/batches", content=big, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "PGWARDEN_MAX_BODY_BYTES" in r.json()["error"]["message"]
    assert client.get("/api/batches").json() == []


def test_unknown_batch_and_unknown_source_are_404(client):
    r = client.get("/api/batches/nope")
    assert r.status_code == 404 and r.json()["error"]["value"] == "nope"
    for path in ("/api/batches", "/api/quality/results", "/api/alerts"):
        missing = client.get(f"{path}?source=nobody")
        assert missing.status_code == 404, path
        assert missing.json()["error"] == {
            "message": "unknown source 'nobody'",
            "field": "source",
            "value": "nobody",
        }
    client.post("/api/batches", json={"source": "known", "records": [{"a": 1}]}, headers=AUTH)
    assert client.get("/api/batches?source=known").status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_config_over_http_is_validated(client):
    bad = client.put("/api/config/workers.stale_after", json={"value": 1}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "workers.stale_after"
    unknown = client.put("/api/config/no.such", json={"value": 1}, headers=AUTH)
    assert unknown.status_code == 404
    good = client.put("/api/config/workers.stale_after", json={"value": 20}, headers=AUTH)
    assert good.status_code == 200
    keys = {e["key"]: e for e in client.get("/api/config").json()}
    assert keys["workers.stale_after"]["value"] == 20.0


def test_reads_can_require_the_token(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN, api_open_reads=False))
    try:
        with TestClient(create_app(Services(db=db, config=RuntimeConfig(db)))) as c:
            assert c.get("/api/batches").status_code == 401
            assert c.get("/api/batches", headers=AUTH).status_code == 200
            assert c.get("/healthz").status_code == 200
    finally:
        db.close()


def test_feature_endpoints_answer_and_unknown_names_are_404(client):
    from pgwarden.demo.models import register_demo_models
    from pgwarden.demo.partitions import register_demo_policies

    services = client.services
    register_demo_models(services)
    register_demo_policies(services)
    models = client.get("/api/models").json()
    assert {m["model_id"] for m in models} >= {"demo.spike", "demo.missing", "demo.risk"}
    graph = client.get("/api/models/graph?format=mermaid").json()
    assert "demo.risk" in graph["text"]
    assert client.get("/api/models/demo.spike/compare?since=1d").status_code == 200
    assert client.get("/api/models/nope/compare").status_code == 404
    bad_since = client.get("/api/models/demo.spike/compare?since=soon")
    assert bad_since.status_code == 422 and bad_since.json()["error"]["field"] == "since"
    promote = client.post("/api/models/nope/promote", json={"version": "v9"}, headers=AUTH)
    assert promote.status_code == 404
    assert client.post("/api/models/demo.spike/promote", json={"version": "v2"}).status_code == 401

    status = client.get("/api/partitions").json()
    assert any(t["table"].endswith("audit_logs") for t in status)
    assert client.get("/api/partitions/plan?table=public.nope").status_code == 404
    dry = client.post("/api/partitions/run", json={"dry_run": True}, headers=AUTH)
    assert dry.status_code == 200, dry.text
    assert client.get("/api/alerts").status_code == 200
    assert client.post("/api/alerts/999999/ack", headers=AUTH).status_code == 404
    report = client.get("/api/quality/report?date=2026-11-21")
    assert report.status_code == 200 and report.json()["day"] == "2026-11-21"
    page = client.get("/api/quality/report.html?date=2026-11-21")
    assert page.status_code == 200 and page.text.lstrip().lower().startswith("<!doctype html")


def test_metadata_passes_the_records_door_a_422_naming_where_never_a_500(client):
    # metadata is stored as jsonb: a NUL character in it was a 500
    # (UntranslatableCharacter) at ingest; it now meets the records' checks
    body = {"source": "api_calls", "records": [{"id": 1}], "metadata": {"tags": ["ok", "a\0b"]}}
    r = client.post("/api/batches", json=body, headers=AUTH)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "metadata.tags[1]" and "NUL" in err["message"]
    r = client.post("/api/batches", json={**body, "metadata": {"k\0": 1}}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "metadata"
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    r = client.post("/api/batches", json={**body, "metadata": {"d": deep}}, headers=AUTH)
    assert r.status_code == 422 and "too deep" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/batches?source=a%00b", "/api/batches/a%00b"])
def test_a_value_postgresql_refuses_is_a_422_not_a_500(client, path):
    # psycopg refuses text with NUL before sending it (DataError): these were 500s
    r = client.get(path, headers=AUTH)
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
