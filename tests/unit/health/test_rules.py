"""Alert rules with fixture snapshots and an injected clock."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pgwarden.errors import InputInvalid
from pgwarden.health import rules
from pgwarden.health.snapshot import Result, Snapshot

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def snap(t: datetime, *, up: bool = True, **collectors: list[dict]) -> Snapshot:
    return Snapshot("self", t, up=up, results={k: Result(v, t) for k, v in collectors.items()})


def db_row(hit: float, read: float, commit: float = 0, rollback: float = 0) -> dict:
    return {
        "datname": "app",
        "blks_hit": hit,
        "blks_read": read,
        "xact_commit": commit,
        "xact_rollback": rollback,
        "deadlocks": 0,
    }


def shipped(name: str) -> rules.Rule:
    return next(r for r in rules.load() if r.alert == name)


def test_the_shipped_rules_parse_and_name_known_measures():
    loaded = rules.load()
    assert len(loaded) >= 20
    assert {r.alert for r in loaded} >= {
        "PostgresqlDown",
        "PostgresqlTooManyConnections",
        "PostgresqlLowCacheHitRatio",
        "PostgresqlSlowStatements",
        "PostgresqlHighDeadTupleRatio",
        "PostgresqlTableVacuumDebt",
    }
    seed = shipped("PostgresqlHighDeadTupleRatio")
    assert (seed.op, seed.threshold, seed.for_) == (">", 0.2, timedelta(minutes=30))


def test_cache_hit_rule_fires_after_its_for_window_not_before():
    rule = shipped("PostgresqlLowCacheHitRatio")  # < 90% for 10m, with traffic
    # 60 s apart, 80% hits, 100,000 blocks a minute: well over 10 blocks/s
    snaps = [snap(T0 + i * MINUTE, database=[db_row(80_000 * i, 20_000 * i)]) for i in range(13)]
    # the first breach is measured at T0+1m (a rate needs two snapshots)
    assert rules.evaluate([rule], snaps[:11], T0 + 10 * MINUTE) == []
    assert rules.evaluate([rule], snaps[:11], T0 + 10 * MINUTE + 59 * timedelta(seconds=1)) == []
    fired = rules.evaluate([rule], snaps[:12], T0 + 11 * MINUTE)
    assert [(f.key, round(f.value, 2), f.since) for f in fired] == [("app", 0.8, T0 + MINUTE)]
    assert "80.0%" in fired[0].title("self")


def test_an_idle_database_never_fires_a_ratio_rule():
    rule = shipped("PostgresqlLowCacheHitRatio")
    # all reads miss the cache, but only 100 blocks a minute: below the traffic floor
    snaps = [snap(T0 + i * MINUTE, database=[db_row(0, 100 * i)]) for i in range(40)]
    assert rules.evaluate([rule], snaps, T0 + 40 * MINUTE) == []


def test_a_single_good_snapshot_resets_the_window():
    rule = shipped("PostgresqlTooManyConnections")  # > 0.8 for 5m
    settings = [
        {"name": "max_connections", "setting": "100", "unit": "", "vartype": "integer"},
        {
            "name": "superuser_reserved_connections",
            "setting": "0",
            "unit": "",
            "vartype": "integer",
        },
    ]

    def at(i: int, n: int) -> Snapshot:
        return snap(T0 + i * MINUTE, settings=settings, activity=[{"count": n}])

    busy = [at(i, 90) for i in range(4)] + [at(4, 10)] + [at(i, 95) for i in range(5, 10)]
    assert rules.evaluate([rule], busy, T0 + 9 * MINUTE) == []  # run restarted at 5m
    fired = rules.evaluate([rule], busy + [at(10, 95)], T0 + 10 * MINUTE)
    assert len(fired) == 1 and fired[0].since == T0 + 5 * MINUTE
    # an absolute 80 would be wrong: 90 of 1000 connections is fine
    roomy = [{**settings[0], "setting": "1000"}, settings[1]]
    calm = [snap(T0 + i * MINUTE, settings=roomy, activity=[{"count": 90}]) for i in range(10)]
    assert rules.evaluate([rule], calm, T0 + 10 * MINUTE) == []


def test_down_fires_after_a_minute():
    rule = shipped("PostgresqlDown")
    snaps = [snap(T0, up=False), snap(T0 + MINUTE, up=False)]
    assert rules.evaluate([rule], snaps[:1], T0 + 30 * timedelta(seconds=1)) == []
    assert [f.rule.alert for f in rules.evaluate([rule], snaps, T0 + MINUTE)] == ["PostgresqlDown"]


def test_statement_p95_needs_two_samples_and_survives_a_reset():
    rule = rules.Rule(
        "P95", "warning", timedelta(0), "0m", "statement_p95_ms", ">", 500, "p95 {value}", "expr"
    )
    row = {
        "queryid": 1,
        "userid": 10,
        "dbid": 5,
        "toplevel": True,
        "usename": "u",
        "datname": "app",
    }
    a = snap(T0, statements=[{**row, "calls": 100, "total_exec_time": 1000.0, "stats_reset": 1}])
    b = snap(
        T0 + MINUTE,
        statements=[{**row, "calls": 110, "total_exec_time": 11000.0, "stats_reset": 1}],
    )
    fired = rules.evaluate([rule], [a, b], T0 + MINUTE)
    assert [round(f.value) for f in fired] == [1000]  # 10 calls took 10 s: 1000 ms each
    # after a reset, the delta is the new counters, not a negative number
    c = snap(
        T0 + 2 * MINUTE,
        statements=[{**row, "calls": 5, "total_exec_time": 50.0, "stats_reset": 99}],
    )
    assert rules.evaluate([rule], [b, c], T0 + 2 * MINUTE) == []


def test_bad_rule_files_name_the_rule_and_field():
    with pytest.raises(InputInvalid, match=r"rules\[0\] \(X\)\.measure"):
        rules.parse(
            "rules:\n- {alert: X, measure: nope, op: '>', threshold: 1, severity: warning,"
            " expr: up, summary: s}"
        )
    with pytest.raises(InputInvalid, match="for"):
        rules.parse(
            "rules:\n- {alert: X, measure: up, op: '>', threshold: 1, severity: warning,"
            " expr: up, summary: s, for: 5 minutes}"
        )
    with pytest.raises(InputInvalid, match="'rules' list"):
        rules.parse("[]")


def test_prometheus_export_is_a_rule_file():
    text = rules.to_prometheus(rules.load())
    data = yaml.safe_load(text)
    group = data["groups"][0]
    assert group["name"] == "pgwarden-health"
    down = next(r for r in group["rules"] if r["alert"] == "PostgresqlDown")
    assert down == {
        "alert": "PostgresqlDown",
        "expr": "pg_up == 0",
        "for": "1m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "PostgreSQL target {{ $labels.target }} is down",
            "description": down["annotations"]["description"],
        },
    }


def test_promtool_accepts_the_exported_rules(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    path = tmp_path / "pgwarden.rules.yml"
    path.write_text(rules.to_prometheus(rules.load()), encoding="utf-8")
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


PROMTOOL_TESTS = Path(__file__).with_name("promtool_tests.yml")


def test_promtool_fires_the_fixed_rules_on_exporter_label_sets(tmp_path):
    """The rules that never fire in the public sets (5.3) fire here; idle stays quiet."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    (tmp_path / "rules.yml").write_text(rules.to_prometheus(rules.load()), encoding="utf-8")
    shutil.copy(PROMTOOL_TESTS, tmp_path / "tests.yml")
    done = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
