"""Reads closed stay usable: a dashboard login with a session cookie; /metrics and
/docs follow the read setting; open reads only on loopback (issue 10 point 4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.errors import PgwardenError
from pgwarden.service.api.auth import check_bind
from pgwarden.services import Services
from tests.conftest import make_settings

try:
    from pgwarden.service.web import create_app
except ImportError:  # before the web app moved out of service/api
    from pgwarden.service.api import create_app  # type: ignore[no-redef]

TOKEN = "closed-reads-token"
SCRAPE = "scrape-only-token"
HTML = {"Accept": "text/html"}


def _client(db_conninfo, bind_host: str | None = None, **settings):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, **settings))
    services = Services(db=db, config=RuntimeConfig(db))
    app = create_app(services)
    if bind_host is not None:
        app.state.bind_host = bind_host
    return db, TestClient(app, follow_redirects=False)


@pytest.fixture
def closed(db_conninfo):
    db, client = _client(db_conninfo, api_token=TOKEN, api_open_reads=False, metrics_token=SCRAPE)
    with client:
        yield client
    db.close()


def test_the_dashboard_logs_in_with_a_token_and_reads_with_an_httponly_cookie(closed):
    page = closed.get("/", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    form = closed.get("/login?next=/alerts")
    assert (
        form.status_code == 200 and 'name="token"' in form.text and 'value="/alerts"' in form.text
    )

    bad = closed.post("/login", data={"token": "nope", "next": "/alerts"})
    assert bad.status_code == 401 and "not valid" in bad.text and "set-cookie" not in bad.headers

    ok = closed.post("/login", data={"token": TOKEN, "next": "/alerts"})
    assert ok.status_code == 303 and ok.headers["location"] == "/alerts"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    for path in ("/alerts", "/api/batches", "/metrics", "/docs", "/openapi.json"):
        assert closed.get(path, headers=HTML).status_code == 200, path
    # the cookie is for reads: a write still needs the bearer header
    put = closed.put("/api/config/quality.level_poor", json={"value": 0.4})
    assert put.status_code == 401
    closed.post("/logout")
    closed.cookies.clear()
    assert closed.get("/api/batches").status_code == 401


def test_login_never_redirects_off_the_server(closed):
    ok = closed.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json", "/api/batches"])
def test_metrics_and_docs_follow_the_read_setting(closed, path):
    assert closed.get(path).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert closed.get(path, headers=bearer).status_code == 200


def test_the_metrics_token_reads_metrics_only(closed):
    scrape = {"Authorization": f"Bearer {SCRAPE}"}
    assert closed.get("/metrics", headers=scrape).status_code == 200
    assert closed.get("/api/batches", headers=scrape).status_code == 401


@pytest.mark.parametrize(
    ("host", "open_"), [("127.0.0.1", True), ("::1", True), ("0.0.0.0", False), ("10.1.2.3", False)]
)
def test_open_reads_are_the_default_only_on_loopback(db_conninfo, host, open_):
    db, client = _client(db_conninfo, bind_host=host, api_token=TOKEN)
    with client:
        status = client.get("/api/batches").status_code
        metrics = client.get("/metrics").status_code
    db.close()
    assert (status == 200, metrics == 200) == (open_, open_)


def test_a_non_loopback_bind_without_any_token_refuses_to_start(services):
    check_bind(services, "127.0.0.1")  # loopback: fine without a token
    with pytest.raises(PgwardenError, match="refusing to listen on 0.0.0.0"):
        check_bind(services, "0.0.0.0")
    from pgwarden.service.api.auth import new_token

    new_token(services, "ops")
    check_bind(services, "0.0.0.0")  # a stored token: reads closed by default, start
