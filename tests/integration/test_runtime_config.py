import logging

import pytest
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.errors import ConfigValueInvalid, UnknownConfigKey

KEY = "workers.stale_after"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sql_set(conn, key, raw_json_text):
    conn.execute(
        "INSERT INTO system_config (key, value) VALUES (%s, %s::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [key, raw_json_text],
    )
    conn.commit()


def test_a_value_changed_in_sql_is_seen_after_the_ttl(database, conn):
    clock = Clock()
    cfg = RuntimeConfig(database, ttl=5.0, clock=clock)
    assert cfg.get(KEY) == 60.0
    sql_set(conn, KEY, "42")
    clock.now += 4.9
    assert cfg.get(KEY) == 60.0  # still cached
    clock.now += 0.2
    assert cfg.get(KEY) == 42.0


def test_set_is_validated_audited_and_seen_at_once(database, conn):
    cfg = RuntimeConfig(database, ttl=60.0)
    assert cfg.get(KEY) == 60.0
    cfg.set_text(KEY, "30", who="alice")
    assert cfg.get(KEY) == 30.0
    cfg.set(KEY, 31, who="bob")
    rows = cfg.history(KEY)
    assert [(r[1], r[2], r[3]) for r in rows] == [(30.0, 31, "bob"), (None, 30.0, "alice")]


def test_bad_set_writes_nothing(database, conn):
    cfg = RuntimeConfig(database)
    with pytest.raises(ConfigValueInvalid) as exc:
        cfg.set_text(KEY, "2")
    assert KEY in str(exc.value) and "between 5 and 3600" in str(exc.value)
    with pytest.raises(UnknownConfigKey):
        cfg.set_text("no.such", "1")
    assert conn.execute("SELECT count(*) FROM system_config").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM config_history").fetchone() == (0,)


def test_bad_stored_value_warns_once_and_keeps_last_good(database, conn, caplog):
    clock = Clock()
    cfg = RuntimeConfig(database, ttl=1.0, clock=clock)
    sql_set(conn, KEY, "45")
    assert cfg.get(KEY) == 45.0
    sql_set(conn, KEY, '"not a number"')
    with caplog.at_level(logging.WARNING, logger="pgwarden.config.runtime"):
        for _ in range(3):
            clock.now += 2
            assert cfg.get(KEY) == 45.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and KEY in warnings[0].getMessage()
    assert "not a number" in warnings[0].getMessage()
    entry = {e.key: e for e in cfg.entries()}[KEY]
    assert entry.source == "invalid" and entry.value == 45.0


def test_out_of_bounds_stored_value_falls_back_to_default(database, conn):
    cfg = RuntimeConfig(database, ttl=0)
    conn.execute("INSERT INTO system_config (key, value) VALUES (%s, %s)", [KEY, Jsonb(99999)])
    conn.commit()
    assert cfg.get(KEY) == 60.0


def test_reset_restores_default_and_is_audited(database):
    cfg = RuntimeConfig(database)
    cfg.set(KEY, 20)
    cfg.reset(KEY, who="carol")
    assert cfg.get(KEY) == 60.0
    assert cfg.history(KEY)[0][2] is None and cfg.history(KEY)[0][3] == "carol"
