"""Every bad input the API was seen to answer with a 500 (or to accept and then fail)
is a 4xx naming the field and the value, decided at the door (issue 10 point 10)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.services import Services
from tests.conftest import make_settings

try:
    from pgwarden.service.web import create_app
except ImportError:  # before the web app moved out of service/api
    from pgwarden.service.api import create_app  # type: ignore[no-redef]

TOKEN = "bad-input-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN))
    services = Services(db=db, config=RuntimeConfig(db))
    with TestClient(create_app(services), raise_server_exceptions=False) as c:
        c.services = services  # type: ignore[attr-defined]
        yield c
    db.close()


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


BATCHES = [
    # (name, raw JSON body, field named, value fragment named)
    ("metadata list", '{"source":"s","records":[{"id":1}],"metadata":[1,2]}', "metadata", "1"),
    ("metadata string", '{"source":"s","records":[{"id":1}],"metadata":"abc"}', "metadata", "abc"),
    ("batch_id int", '{"source":"s","batch_id":123,"records":[{"id":1}]}', "batch_id", "123"),
    ("batch_id list", '{"source":"s","batch_id":["a"],"records":[{"id":1}]}', "batch_id", "a"),
    ("5000 digits", '{"source":"s","records":[{"id":' + "9" * 5000 + "}]}", "body", "digits"),
    (
        "depth 10000",
        '{"source":"s","records":[' + _nested(10_000) + "]}",
        "body",
        "deep",
    ),
    ("depth 500", '{"source":"s","records":[' + _nested(500) + "]}", "records[0]", "deep"),
    ("NUL in a key", '{"source":"s","records":[{"a\\u0000b":1}]}', "records[0]", "\\u0000"),
    ("NUL in a value", '{"source":"s","records":[{"a":"x\\u0000"}]}', "records[0].a", "\\u0000"),
    ("NaN", '{"source":"s","records":[{"id":1,"x":NaN}]}', "records[0].x", "NaN"),
    ("Infinity", '{"source":"s","records":[{"id":1,"x":-Infinity}]}', "records[0].x", "Infinity"),
    ("1e999", '{"source":"s","records":[{"id":1,"x":1e999}]}', "records[0].x", "inf"),
]


@pytest.mark.parametrize(
    ("name", "body", "field", "fragment"), BATCHES, ids=[b[0] for b in BATCHES]
)
def test_a_batch_that_can_never_be_processed_is_refused_at_ingest(
    client, name, body, field, fragment
):
    r = client.post(
        "/api/batches", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err.get("field", "").startswith(field), err
    assert fragment.lower() in (json.dumps(err["value"]) + err["message"]).lower(), err
    with client.services.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM pgwarden.ingest_batches").fetchone()[0] == 0


@pytest.mark.parametrize(
    "line",
    ['{"a\\u0000":1}', '{"x":NaN}', _nested(500)],
    ids=["NUL key", "NaN", "depth 500"],
)
def test_json_lines_get_the_same_door(client, line):
    r = client.post(
        "/api/batches?source=s",
        content=b'{"id":1}\n' + line.encode(),
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )
    assert 400 <= r.status_code < 500, r.text[:300]
    assert r.json()["error"]["field"].startswith("line 2"), r.json()


READS = [
    ("/api/models/m/compare?since=99999999999999d", "since", "99999999999999d"),
    ("/api/quality/report?date=9999-12-31", "date", "9999-12-31"),
    ("/api/quality/report?date=0001-01-01", "date", "0001-01-01"),
    ("/api/quality/report.html?date=9999-12-31", "date", "9999-12-31"),
    ("/api/quality/report.html?date=0001-01-01", "date", "0001-01-01"),
    ("/api/quality/results?status=junk", "status", "junk"),
]


@pytest.mark.parametrize(("url", "field", "value"), READS, ids=[r[0] for r in READS])
def test_bad_query_parameters_are_4xx_naming_them(client, url, field, value):
    r = client.get(url, headers=AUTH)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["field"] == field and err["value"] == value, err


@pytest.mark.parametrize("raw", ["NaN", "1e999", "-Infinity"])
def test_a_config_value_that_is_not_a_finite_number_is_422(client, raw):
    r = client.put(
        "/api/config/quality.level_poor",
        content='{"value": ' + raw + "}",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["field"] == "quality.level_poor"
    assert err["value"].lower().lstrip("-") in ("nan", "inf", "infinity"), err
