"""The pgBackRest drill against a throwaway PostgreSQL 15 cluster on a Unix socket."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.pool import connect
from pgwarden.ops import pitr
from pgwarden.ops.runner import RunStatus
from pgwarden.services import Services
from tests.conftest import SCHEMA, make_settings

PG15 = Path("/usr/lib/postgresql/15/bin")
PORT = 55499

pytestmark = [
    pytest.mark.skipif(shutil.which("pgbackrest") is None, reason="pgbackrest is not installed"),
    pytest.mark.skipif(not (PG15 / "initdb").exists(), reason="Debian's PostgreSQL 15 is absent"),
]


def _as_owner() -> dict[str, int]:
    if os.geteuid() != 0:
        return {}
    try:
        u = pwd.getpwnam("pgwarden")
    except KeyError:
        pytest.skip("running as root without a 'pgwarden' user for PostgreSQL")
    return {"user": u.pw_uid, "group": u.pw_gid}


@pytest.fixture
def pg15(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    home = Path(tempfile.mkdtemp(prefix="pgw-pitr-"))
    owner = _as_owner()
    os.chmod(home, 0o755)
    if owner:
        os.chown(home, owner["user"], owner["group"])
    data, sock = home / "data", home / "s"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, env=env, cwd=home, **owner)  # noqa: E731
    run("mkdir", str(sock))
    run(str(PG15 / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    with open(data / "postgresql.auto.conf", "a") as fh:
        fh.write(
            f"port = {PORT}\nunix_socket_directories = '{sock}'\nlisten_addresses = ''\n"
            "wal_level = replica\narchive_mode = on\narchive_command = '/bin/false'\n"
        )
    run(str(PG15 / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "start")
    try:
        yield home, f"host={sock} port={PORT} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            [str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            cwd=home,
            **owner,
        )
        shutil.rmtree(home, ignore_errors=True)


def test_pgbackrest_config_check_backup_and_drill(pg15):
    home, conninfo = pg15
    migrate.upgrade(conninfo, SCHEMA)
    db = connect(make_settings(conninfo))
    try:
        services = Services(db=db, config=RuntimeConfig(db))
        config_path = home / "pgbackrest.conf"
        dry = pitr.configure(
            services, stanza="main", repo=home / "repo", config_path=config_path, dry_run=True
        )
        assert "archive-push %p" in dry.result["archive_command"]
        assert not config_path.exists()
        done = pitr.configure(services, stanza="main", repo=home / "repo", config_path=config_path)
        assert done.status is RunStatus.OK and config_path.exists()
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(
                sql.SQL("ALTER SYSTEM SET archive_command = {}").format(
                    sql.Literal(done.result["archive_command"])
                )
            )
            c.execute("SELECT pg_reload_conf()")
        first = pitr.check(services)
        assert first.status is RunStatus.PARTIAL and "no full backup" in first.error
        assert pitr.backup(services, "full").status is RunStatus.OK
        checked = pitr.check(services)
        assert checked.status is RunStatus.OK
        assert checked.result["backups"]["full"]["age_hours"] < 1
        assert checked.result["archive_max"]
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute("CREATE TABLE public.after_backup AS SELECT 1 AS x")
        run = pitr.drill(services, port=PORT + 1, bin_dir=PG15)
        assert run.status is RunStatus.OK, run.error
        assert run.result["rows_checked"] >= 5 and run.result["rto_seconds"] > 0
        assert run.result["rpo_seconds"] is not None and run.result["rpo_seconds"] >= 0
        assert not list(Path(tempfile.gettempdir()).glob("pgwarden-drill-*"))
    finally:
        db.close()


def test_parse_info_reads_the_json(tmp_path):
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    text = (
        '[{"name": "main", "status": {"code": 0, "message": "ok"}, '
        '"archive": [{"min": "000000010000000000000001", "max": "000000010000000000000009"}], '
        '"backup": [{"type": "full", "label": "F1", "error": false, '
        '"timestamp": {"start": 1764378000, "stop": 1764378060}}]}]'
    )
    info = pitr.parse_info(text, now)
    assert info["ok"] and info["backups"]["full"]["label"] == "F1"
    assert info["archive_max"].endswith("9")
