"""Dashboard pages never 500 on values that are not numbers (issue 10 point 11)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pgwarden.alerts import raise_alerts, settings_from
from pgwarden.alerts.model import Condition
from pgwarden.config.runtime import RuntimeConfig
from pgwarden.services import Services
from tests.conftest import make_settings

try:
    from pgwarden.service.web import create_app
except ImportError:  # before the web app moved out of service/api
    from pgwarden.service.api import create_app  # type: ignore[no-redef]


@pytest.fixture
def client(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo))
    services = Services(db=db, config=RuntimeConfig(db))
    with TestClient(create_app(services), raise_server_exceptions=False) as c:
        c.services = services  # type: ignore[attr-defined]
        yield c
    db.close()


@pytest.mark.parametrize("observed", ["REJECTED", "2026-01-01", None, "", True, [1, 2]])
def test_alerts_page_shows_an_open_alert_whatever_its_observed_value(client, observed):
    services = client.services
    cond = Condition(
        rule="rejected",
        kind="issue",
        title="s: batch b1 rejected",
        issue_severity="high",
        explanation={
            "metric": "batch status",
            "observed": observed,
            "expected": "ACCEPTED",
            "method": "input validation",
            "recommendation": "fix the input and resend it",
        },
    )
    with services.db.connection() as conn, conn.transaction():
        raise_alerts(
            conn,
            services.db.schema,
            "s",
            "b1",
            [cond],
            datetime.now(UTC),
            settings_from(services.config),
        )
    r = client.get("/alerts")
    assert r.status_code == 200, r.text[-500:]
    assert "s: batch b1 rejected" in r.text
    if observed == "REJECTED":
        assert "REJECTED" in r.text
