"""The CLI answers bad input with exit 1 and one message naming the field and the
value, and queues or stores nothing it should not (issue 10 point 12)."""

from __future__ import annotations

import pytest


def _count(cli, sql: str) -> int:
    import psycopg

    with psycopg.connect(cli.env["PGWARDEN_DSN"]) as conn:
        return conn.execute(sql).fetchone()[0]


BATCH_FILES = [
    # (name, file name, bytes, fragments that must appear in the message)
    ("binary", "blob.jsonl", bytes(range(256)) * 4, ["not UTF-8"]),
    ("broken JSON lines", "b.jsonl", b'{"id": 1}\n{"id": 2,\n', ["line 2", "broken JSON"]),
    ("broken JSON", "b.json", b'[{"id": 1}, {"id": ]', ["broken JSON"]),
    ("ragged CSV", "r.csv", b"id,value\n1,2\n3,4,5\n6,7\n", ["line 3", "3 fields", "header has 2"]),
    ("short CSV row", "s.csv", b"id,value,x\n1,2,3\n4\n", ["line 3", "1 fields"]),
    ("NaN in JSON lines", "n.jsonl", b'{"id": 1, "x": NaN}\n', ["line 1", "NaN"]),
]


@pytest.mark.parametrize(
    ("name", "filename", "data", "fragments"), BATCH_FILES, ids=[b[0] for b in BATCH_FILES]
)
def test_batches_ingest_refuses_a_file_that_can_never_be_processed(
    cli_external, tmp_path, name, filename, data, fragments
):
    path = tmp_path / filename
    path.write_bytes(data)
    r = cli_external.run("batches", "ingest", str(path), "--source", "s")
    assert r.returncode == 1, (r.stdout, r.stderr)
    for fragment in fragments:
        assert fragment in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert _count(cli_external, "SELECT count(*) FROM pgwarden.ingest_batches") == 0


def test_quality_check_store_refuses_a_batch_id_the_api_would_refuse(cli_external, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"id": 1, "timestamp": "2026-01-01T00:00:00Z", "data": 1}\n')
    r = cli_external.run(
        "quality", "check", str(path), "--source", "s", "--store", "--batch-id", "a b'"
    )
    assert r.returncode == 1 and "--batch-id" in r.stderr and "a b'" in r.stderr, r.stderr
    assert _count(cli_external, "SELECT count(*) FROM pgwarden.quality_batches") == 0


def test_an_empty_rules_file_is_refused_unless_allow_empty(cli_external, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - {name: id_present, kind: required, fields: [id]}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: []\n")
    first = cli_external.run("quality", "rules", "set", "s", str(good))
    assert first.returncode == 0, first.stderr
    r = cli_external.run("quality", "rules", "set", "s", str(empty))
    assert r.returncode == 1 and "no rules" in r.stderr and "--allow-empty" in r.stderr
    shown = cli_external.run("quality", "rules", "show", "s")
    assert "id_present" in shown.stdout  # the last good rules stay active
    ok = cli_external.run("quality", "rules", "set", "s", str(empty), "--allow-empty")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(("key", "value"), [("anomaly.min_rate_delta", "-0.5")])
def test_config_set_takes_a_negative_number_as_a_value(cli_external, key, value):
    r = cli_external.run("config", "set", key, value)
    # the value reaches the key's check (min 0), instead of being an unknown option
    assert r.returncode == 1, r.stdout
    assert key in r.stderr and "-0.5" in r.stderr and "No such option" not in r.stderr


def test_a_model_that_raises_on_import_is_one_line_naming_the_entrypoint(cli_external, tmp_path):
    (tmp_path / "boom_on_import.py").write_text("raise ValueError('boom at import')\n")
    cli_external.env["PYTHONPATH"] = str(tmp_path)
    assert cli_external.run("models", "add", "m1").returncode == 0
    r = cli_external.run("models", "version", "add", "m1", "1.0", "-e", "boom_on_import:Model")
    assert r.returncode == 1, r.stdout
    assert "boom_on_import:Model" in r.stderr and "ValueError: boom at import" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
