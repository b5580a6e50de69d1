"""Runtime config that cannot hurt: secrets masked, paths not settable over HTTP,
cron keys that fire, relations between keys (issue 10 points 2, 3, 9)."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.errors import ConfigValueInvalid
from pgwarden.services import Services
from tests.conftest import make_settings

try:
    from pgwarden.service.web import create_app
except ImportError:  # before the web app moved out of service/api
    from pgwarden.service.api import create_app  # type: ignore[no-redef]

TOKEN = "config-safety-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
BEARER = "Bearer s3cr3t-header-value"
CHANNELS = [
    {"name": "ops", "type": "slack", "url": HOOK},
    {
        "name": "hook",
        "type": "webhook",
        "url": "https://example.org/in?token=qtok",
        "headers": {"Authorization": BEARER},
    },
]


@pytest.fixture
def client(db_conninfo):
    from pgwarden.db.pool import connect

    db = connect(make_settings(db_conninfo, api_token=TOKEN))
    services = Services(db=db, config=RuntimeConfig(db, ttl=0))
    with TestClient(create_app(services)) as c:
        c.services = services  # type: ignore[attr-defined]
        yield c
    db.close()


def _leaks(text: str) -> list[str]:
    return [s for s in (HOOK, "XXXXsecretXXXX", "s3cr3t-header-value", "qtok") if s in text]


def test_secret_keys_are_masked_in_api_cli_history_and_logs_and_still_work(
    client, services, caplog
):
    put = client.put("/api/config/alerts.channels", json={"value": CHANNELS}, headers=AUTH)
    assert put.status_code == 200, put.text
    assert _leaks(put.text) == []

    listed = client.get("/api/config")  # open reads: no token
    assert listed.status_code == 200 and _leaks(listed.text) == []
    shown = next(e for e in listed.json() if e["key"] == "alerts.channels")["value"]
    assert shown[0]["url"] == "https://hooks.slack.com/********"
    assert shown[1]["headers"] == {"Authorization": "********"}

    cfg = RuntimeConfig(client.services.db, ttl=0)
    assert cfg.get("alerts.channels") == CHANNELS  # the real value is in force
    history = cfg.history("alerts.channels")
    assert history and _leaks(json.dumps(history, default=str)) == []

    cfg.set("ops.mask_salt", "pepper-123")
    assert next(e for e in cfg.entries() if e.key == "ops.mask_salt").value == "********"
    assert cfg.get("ops.mask_salt") == "pepper-123"

    # a rejected secret is not echoed in the error either
    with pytest.raises(ConfigValueInvalid) as info:
        cfg.set("alerts.channels", [{"name": "x", "type": "slack", "url": "ftp://tok-777"}])
    assert "tok-777" not in str(info.value)

    # an invalid stored secret (by SQL) is logged masked
    with client.services.db.connection() as conn:
        conn.execute(
            "UPDATE system_config SET value = %s::jsonb WHERE key = 'alerts.channels'",
            [json.dumps([{"name": "bad", "type": "slack", "url": "nope-" + HOOK}])],
        )
    with caplog.at_level(logging.WARNING):
        fresh = RuntimeConfig(client.services.db, ttl=0)
        fresh.entries()
    assert "invalid" in caplog.text and _leaks(caplog.text) == []


@pytest.mark.parametrize(
    "key",
    [
        "sources.watch_dir",
        "report.html_dir",
        "health.rules_path",
        "ops.backup_dir",
        "ops.bin_dir",
        "ops.pgbackrest_config",
    ],
)
def test_keys_naming_paths_are_refused_over_http(client, key):
    r = client.put(f"/api/config/{key}", json={"value": "/etc/cron.d"}, headers=AUTH)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["field"] == "key" and err["value"] == key and "pgwarden config set" in err["message"]
    cfg = RuntimeConfig(client.services.db, ttl=0)
    assert cfg.get(key) == ""  # nothing written
    cfg.set(key, "/srv/somewhere")  # the CLI path still sets it


def test_every_path_like_key_is_declared_a_path():
    from pgwarden.config.keys import ALL_KEYS

    for key in ALL_KEYS:
        if key.name.endswith(("_dir", "_path", "_file", "_config")) and key.type == "str":
            assert key.path, f"{key.name} names a file or directory: declare path=True"


@pytest.mark.parametrize("cron", ["99 * * * *", "* * * * * 99", "0 0 32 * *", "0 0 30 2 *"])
def test_a_bad_cron_is_refused_at_set_and_the_last_good_one_kept_from_sql(services, cron):
    cfg = services.config
    with pytest.raises(ConfigValueInvalid) as info:
        cfg.set_text("report.cron", cron)
    assert "report.cron" in str(info.value) and cron in str(info.value)
    cfg.set_text("report.cron", "15 6 * * *")
    with services.db.connection() as conn:
        conn.execute(
            "UPDATE system_config SET value = %s::jsonb WHERE key = 'report.cron'",
            [json.dumps(cron)],
        )
    cfg.invalidate()
    assert cfg.get("report.cron") == "15 6 * * *"
    entry = next(e for e in cfg.entries() if e.key == "report.cron")
    assert entry.source == "invalid"


def test_levels_must_fall_from_excellent_to_poor(services):
    cfg = services.config
    with pytest.raises(ConfigValueInvalid) as info:
        cfg.set_text("quality.level_poor", "0.95")
    text = str(info.value)
    assert "quality.level_poor" in text and "0.95" in text and "level_acceptable" in text
    cfg.set_text("quality.level_poor", "0.4")
    assert cfg.get("quality.level_poor") == 0.4
    # by SQL: a value that breaks the order falls back to the last good one
    with services.db.connection() as conn:
        conn.execute(
            "UPDATE system_config SET value = '0.99'::jsonb WHERE key = 'quality.level_poor'"
        )
    cfg.invalidate()
    assert cfg.get("quality.level_poor") == 0.4
    levels = [cfg.get(f"quality.level_{n}") for n in ("excellent", "good", "acceptable", "poor")]
    assert levels == sorted(levels, reverse=True)


def test_a_worker_whose_schedule_fails_stops_with_an_error_not_quietly(services):
    import threading

    from pgwarden.errors import WorkerStopped
    from pgwarden.service.worker import run_worker

    def add_bad_periodic(app):
        # what a bad cron reaching procrastinate did: its deferrer raises
        @app.periodic(cron="99 * * * *", periodic_id="bad")
        @app.task(name="test.never", queue="test")
        def never(timestamp: int) -> None:
            pass

    stop = threading.Event()
    with pytest.raises(WorkerStopped, match="stopped without being asked"):
        run_worker(services, wait=True, name="w-bad-cron", stop=stop, on_app=add_bad_periodic)
