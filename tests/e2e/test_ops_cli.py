from __future__ import annotations

import json
import signal
import time

import psycopg


def _scratch(db_conninfo):
    with psycopg.connect(db_conninfo) as c:
        return [
            r[0]
            for r in c.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'pgwarden\\_verify\\_%'"
            )
        ]


def test_ops_backup_verify_prune_and_checklist_from_the_command_line(cli_external, db_conninfo):
    cli = cli_external
    with psycopg.connect(db_conninfo) as c:
        c.execute("CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 1000) g")
    assert cli.run("config", "set", "ops.backup_dir", str(cli.cwd / "b")).returncode == 0
    done = cli.run("ops", "backup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK backup on ")
    listed = json.loads(cli.run("ops", "backups", "--json").stdout)
    assert listed[0]["status"] == "COMPLETE" and listed[0]["manifest_path"].endswith(".json")
    v = cli.run("ops", "verify", "latest")
    assert v.returncode == 0 and "OK verify" in v.stdout, v.stdout + v.stderr
    p = cli.run("ops", "prune", "--dry-run")
    assert p.returncode == 0 and "keep: newest backup" in p.stdout
    daily = cli.run("ops", "checklist", "--daily")
    assert "pass daily logical backup" in " ".join(daily.stdout.split())
    bad = cli.run(
        "ops",
        "mask",
        "add",
        "public.t",
        "--column",
        "id",
        "--method",
        "scramble",
        "--older-than",
        "9 days",
    )
    assert bad.returncode == 1 and "method: must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = cli.run(
        "ops", "retention", "add", "public.nope", "--column", "x", "--older-than", "1 day"
    )
    assert gone.returncode == 1 and "no such table" in gone.stderr


def test_a_verify_stopped_with_sigterm_drops_its_scratch_database(cli_external, db_conninfo):
    cli = cli_external
    with psycopg.connect(db_conninfo) as c:
        c.execute(
            "CREATE TABLE public.big AS SELECT g AS id, md5(g::text) AS h "
            "FROM generate_series(1, 1500000) g"
        )
    cli.run("config", "set", "ops.backup_dir", str(cli.cwd / "b"))
    assert cli.run("ops", "backup").returncode == 0
    proc = cli.popen("ops", "verify", "latest")
    deadline = time.monotonic() + 60
    while not _scratch(db_conninfo) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "verify ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert _scratch(db_conninfo) == []
    runs = json.loads(cli.run("ops", "runs", "--op", "verify", "--json").stdout)
    assert runs[0]["status"] == "FAILED" and "interrupted" in runs[0]["error"]
