"""Rules in PostgreSQL: versions with who/when, bad files refused, hot reload; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pgwarden import quality
from pgwarden.demo.rules import SOURCES, register_demo_rules
from pgwarden.quality.errors import RulesInvalid, RulesNotFound
from pgwarden.quality.rulestore import load_rules

V1 = "rules: [{kind: required, field: id}]\n"
V2 = "rules: [{kind: required, fields: [id, ts]}, {kind: range, field: v, min: 0, max: 9}]\n"


def test_versions_history_and_a_bad_file_never_replaces_good_rules(services):
    first = quality.set_rules(services, "orders", V1, who="ana")
    second = quality.set_rules(services, "orders", V2, who="bo")
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(RulesInvalid, match="min is greater than max"):
        quality.set_rules(services, "orders", "rules: [{kind: range, field: v, min: 9, max: 1}]")
    with pytest.raises(RulesInvalid, match="unknown kind"):
        quality.set_rules(services, "orders", "rules: [{kind: vibes, field: v}]")
    active = quality.get_rules(services, "orders")
    assert active.version == 2 and len(active.rules) == 3
    history = quality.rules_history(services, "orders")
    assert [(h["version"], h["created_by"], h["rules"]) for h in history] == [
        (2, "bo", 3),
        (1, "ana", 1),
    ]
    assert load_rules(services, "orders", 1).yaml == V1
    with pytest.raises(RulesNotFound):
        load_rules(services, "orders", 7)
    assert [r["source"] for r in quality.list_rules(services)] == ["orders"]


def test_rules_are_hot_reloaded_after_the_ttl(services):
    services.config.set("quality.rules_ttl", 30.0)
    clock = [0.0]
    quality.set_rules(services, "hot", V1, who="t")
    assert quality.get_rules(services, "hot", clock=lambda: clock[0]).version == 1
    # another process writes version 2 behind this process's cache
    with services.db.connection() as conn:
        conn.execute(
            "INSERT INTO quality_rules (source, version, yaml, rules, created_by)"
            " VALUES ('hot', 2, %s, '{}', 'other')",
            [V2],
        )
    clock[0] = 10.0
    assert quality.get_rules(services, "hot", clock=lambda: clock[0]).version == 1
    clock[0] = 31.0
    assert quality.get_rules(services, "hot", clock=lambda: clock[0]).version == 2


def test_a_source_without_rules_gets_the_seed_defaults(services):
    rules = quality.get_rules(services, "fresh-source")
    assert rules.defaults and rules.metadata_checks and rules.version is None
    assert [r.name for r in rules.rules] == [
        "required:id", "required:timestamp", "required:data", "unique:id", "freshness:timestamp",
    ]  # fmt: skip
    assert rules.completeness == "record"


def test_demo_rules_register_once_per_change(services):
    assert register_demo_rules(services) == list(SOURCES)
    assert register_demo_rules(services) == list(SOURCES)
    assert all(len(quality.rules_history(services, s)) == 1 for s in SOURCES)


def _cli(conninfo: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env["PGWARDEN_DSN"] = conninfo
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "pgwarden", "quality", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_rules_set_show_and_check_json(db_conninfo, tmp_path):
    good = tmp_path / "rules.yaml"
    good.write_text(V2)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{kind: regex, field: v, pattern: '(x'}]")
    data = tmp_path / "batch.jsonl"
    data.write_text(
        "\n".join(json.dumps(r) for r in [{"id": "a", "ts": "x", "v": 3}, {"id": "b", "v": 42}])
    )
    done = _cli(db_conninfo, "rules", "set", "orders", str(good), "--who", "cli")
    assert done.returncode == 0, done.stderr
    refused = _cli(db_conninfo, "rules", "set", "orders", str(bad))
    assert refused.returncode == 1 and "bad regular expression" in refused.stderr
    shown = _cli(db_conninfo, "rules", "show", "orders")
    assert "version 1 by cli" in shown.stdout and "kind: range" in shown.stdout
    checked = _cli(db_conninfo, "check", str(data), "--source", "orders", "--json")
    assert checked.returncode == 0, checked.stderr
    doc = json.loads(checked.stdout)
    assert doc["rule_counts"]["required:ts"] == 1 and doc["rule_counts"]["range:v"] == 1
    assert doc["scores"]["formulas"]["completeness"].startswith("1 - incomplete_records")
    assert doc["scores"]["inputs"]["records"] == 2 and doc["rules_version"] == 1
    table = _cli(db_conninfo, "check", str(data), "--source", "orders", "--rules", str(good))
    assert table.returncode == 0 and "range:v" in table.stdout
