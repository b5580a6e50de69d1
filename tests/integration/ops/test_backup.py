from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgwarden.errors import InputInvalid
from pgwarden.ops.backup import list_backups, sha256_of, take_backup
from pgwarden.ops.errors import BackupDirUnusable, OpsError, ToolTooOld
from pgwarden.ops.prune import prune
from pgwarden.ops.runner import RunStatus, list_runs
from pgwarden.ops.verify import restore_backup, scratch_prefix, verify_backup


def test_backup_verify_restore_round_trip(ops_services, sample, db_conninfo):
    run = take_backup(ops_services)
    assert run.status is RunStatus.OK
    [b] = list_backups(ops_services)
    assert b.status == "COMPLETE" and b.sha256 and b.toc_entries
    counts = b.manifest["row_counts"]
    assert counts["public.customers"] == 300
    assert counts["public.orders"] == 1000
    assert counts["public.events_2026"] == 500
    v = verify_backup(ops_services, "latest")
    assert v.status is RunStatus.OK, v.error
    [b] = list_backups(ops_services)
    assert b.verify_ok is True and b.verify_seconds > 0
    into = "rt_" + psycopg.conninfo.conninfo_to_dict(db_conninfo)["dbname"]
    r = restore_backup(ops_services, b.id, into)
    try:
        assert r.status is RunStatus.OK, r.error
        with psycopg.connect(make_conninfo(db_conninfo, dbname=into)) as c:
            assert c.execute("SELECT count(*), sum(amount) FROM public.orders").fetchone() == (
                1000,
                sum(g * 1.5 for g in range(1, 1001)),
            )
            c.execute("DELETE FROM public.orders")
            c.commit()
        again = restore_backup(ops_services, b.id, into, replace=True)
        assert again.status is RunStatus.OK
        with psycopg.connect(make_conninfo(db_conninfo, dbname=into)) as c:
            assert c.execute("SELECT count(*) FROM public.orders").fetchone() == (1000,)
    finally:
        with psycopg.connect(db_conninfo, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{into}" WITH (FORCE)')


def _flip_byte(path, offset_fraction=0.5):
    p = Path(path)
    data = bytearray(p.read_bytes())
    data[int(len(data) * offset_fraction)] ^= 0xFF
    p.write_bytes(bytes(data))


def _scratch_dbs(conn):
    return [
        r[0]
        for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pgwarden\\_verify\\_%'"
        ).fetchall()
    ]


def test_one_flipped_byte_fails_verify_at_the_checksum(ops_services, sample, conn):
    take_backup(ops_services)
    [b] = list_backups(ops_services)
    _flip_byte(b.path)
    with pytest.raises(OpsError, match="fails its checksum"):
        verify_backup(ops_services, b.id)
    [b] = list_backups(ops_services)
    assert b.verify_ok is False and "checksum" in b.verify_error
    [run] = list_runs(ops_services, "verify")
    assert run.status is RunStatus.FAILED
    assert _scratch_dbs(conn) == []


def test_failing_pg_restore_fails_verify_and_drops_the_scratch(ops_services, sample, conn):
    take_backup(ops_services)
    [b] = list_backups(ops_services)
    path = Path(b.path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])  # a truncated archive
    # the catalog is made to agree with the damaged file: only pg_restore can catch it now
    conn.execute(
        "UPDATE pgwarden.ops_backups SET sha256 = %s WHERE id = %s", (sha256_of(Path(b.path)), b.id)
    )
    conn.commit()
    with pytest.raises(OpsError):
        verify_backup(ops_services, b.id)
    assert _scratch_dbs(conn) == []
    [b] = list_backups(ops_services)
    assert b.verify_ok is False


def test_a_killed_verifications_scratch_is_dropped_by_the_next(ops_services, sample, conn):
    take_backup(ops_services)
    [b] = list_backups(ops_services)
    # what a verify killed with SIGKILL leaves: its scratch database and a RUNNING record
    left = f"{scratch_prefix(b.target)}{b.id}_20260101000000"
    with psycopg.connect(ops_services.db.conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{left}"')
    conn.execute(
        "INSERT INTO pgwarden.ops_runs (op, target, status) VALUES ('verify', %s, 'RUNNING')",
        (b.target,),
    )
    conn.commit()
    run = verify_backup(ops_services, b.id)
    assert run.status is RunStatus.OK
    assert run.result["janitor_dropped"] == [left]
    assert _scratch_dbs(conn) == []
    statuses = [r.status for r in list_runs(ops_services, "verify")]
    assert statuses == [RunStatus.OK, RunStatus.FAILED]  # the orphan is closed as interrupted


def test_restore_refuses_an_existing_database(ops_services, sample, db_conninfo):
    take_backup(ops_services)
    existing = psycopg.conninfo.conninfo_to_dict(db_conninfo)["dbname"]
    with pytest.raises(InputInvalid, match="connected to"):
        restore_backup(ops_services, "latest", existing)
    with pytest.raises(InputInvalid, match="database exists; pass --replace"):
        restore_backup(ops_services, "latest", "postgres")
    dry = restore_backup(ops_services, "latest", "never_created_db", dry_run=True)
    assert dry.dry_run and "create never_created_db" in dry.result["plan"]
    with psycopg.connect(db_conninfo) as c:
        assert not c.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'never_created_db'"
        ).fetchone()


def test_backup_dir_that_is_not_usable_fails_cleanly(services, sample, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    services.config.set("ops.backup_dir", str(blocker / "backups"))
    with pytest.raises(BackupDirUnusable, match="a-file/backups"):
        take_backup(services)
    [run] = list_runs(services, "backup")
    assert run.status is RunStatus.FAILED and "backup directory" in run.error
    assert list_backups(services) == []


PG15_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif(not (PG15_BIN / "pg_dump").exists(), reason="Debian's PostgreSQL 15 is absent")
def test_pg_dump_older_than_the_server_is_refused(ops_services, sample, conn):
    server = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
    if server < 160000:
        pytest.skip("the server is not newer than PostgreSQL 15")
    with pytest.raises(ToolTooOld) as info:
        take_backup(ops_services, bin_dir=PG15_BIN)
    message = str(info.value)
    assert "pg_dump 15" in message and "PostgreSQL 1" in message
    assert list(Path(ops_services.config.get("ops.backup_dir")).glob("*")) == []


def test_second_backup_while_one_runs_is_skipped(ops_services, sample):
    from pgwarden.ops.runner import lock_key, queries

    with psycopg.connect(ops_services.db.conninfo, autocommit=True) as holder:
        target = holder.execute("SELECT current_database()").fetchone()[0]
        holder.execute(queries(ops_services)["try_lock"], {"key": lock_key("backup", target)})
        run = take_backup(ops_services)
    assert run.status is RunStatus.SKIPPED and "already running" in run.error
    assert list_backups(ops_services) == []


def test_directory_format_and_table_scope(ops_services, sample):
    run = take_backup(ops_services, fmt="directory", jobs=2, tables=("public.customers",))
    assert run.status is RunStatus.OK
    [b] = list_backups(ops_services)
    assert b.manifest["row_counts"] == {"public.customers": 300}
    assert verify_backup(ops_services, b.id).status is RunStatus.OK


def test_prune_dry_run_explains_each_backup(ops_services, sample, conn):
    runs = [take_backup(ops_services) for _ in range(3)]
    assert [r.status for r in runs] == [RunStatus.OK] * 3, [r.error for r in runs]
    conn.execute(
        "UPDATE pgwarden.ops_backups SET started_at = now() - interval '100 days' "
        "WHERE id = (SELECT min(id) FROM pgwarden.ops_backups)"
    )
    conn.commit()
    ops_services.config.set("ops.keep_weekly", 0)
    ops_services.config.set("ops.keep_monthly", 0)
    dry = prune(ops_services, dry_run=True)
    reasons = [d["reason"] for d in dry.result["decisions"]]
    assert reasons[0] == "keep: newest backup"
    assert reasons[-1].startswith("delete: 100 d old")
    assert len(list_backups(ops_services)) == 3
    done = prune(ops_services)
    assert len(done.result["deleted"]) == 1
    left = list_backups(ops_services)
    assert len(left) == 2 and all(Path(b.path).exists() for b in left)


@pytest.fixture
def small_tmpfs(tmp_path):
    import subprocess

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_full_disk_fails_the_backup_and_leaves_no_file(services, sample, conn, small_tmpfs):
    conn.execute(
        "CREATE TABLE public.bulk AS SELECT g, md5(g::text) || md5((g * 3)::text) AS h "
        "FROM generate_series(1, 50000) g"
    )
    conn.commit()
    services.config.set("ops.backup_dir", str(small_tmpfs))
    with pytest.raises(OpsError, match="pg_dump exited with status 1"):
        take_backup(services)
    assert list(small_tmpfs.iterdir()) == []
    [run] = list_runs(services, "backup")
    assert run.status is RunStatus.FAILED and "No space left on device" in run.error
    [b] = list_backups(services)
    assert b.status == "FAILED"


def test_a_failed_backup_opens_an_alert_and_the_next_good_one_resolves_it(
    services, sample, tmp_path
):
    from pgwarden.alerts import list_alerts

    blocker = tmp_path / "file"
    blocker.write_text("x")
    services.config.set("ops.backup_dir", str(blocker / "b"))
    with pytest.raises(BackupDirUnusable):
        take_backup(services)
    [alert] = [a for a in list_alerts(services) if a["rule"] == "ops:backup_failed"]
    assert alert["status"] == "open" and alert["severity"] == "critical"
    assert alert["source"].startswith("ops:")
    services.config.set("ops.backup_dir", str(tmp_path / "good"))
    take_backup(services)
    [alert] = [a for a in list_alerts(services) if a["rule"] == "ops:backup_failed"]
    assert alert["status"] == "resolved"


def test_verify_warns_of_a_sequence_behind_its_column(ops_services, sample, conn):
    conn.execute("INSERT INTO public.customers (id, email) VALUES (5000, 'x@y')")
    conn.commit()
    take_backup(ops_services)
    run = verify_backup(ops_services, "latest")
    assert run.status is RunStatus.OK
    [warning] = run.result["warnings"]
    assert "customers_id_seq is at 300 below max(id) = 5000" in warning


def test_the_monthly_verification_also_restores_a_random_older_backup(ops_services, sample):
    import random

    from pgwarden.ops.verify import monthly_verification

    for _ in range(3):
        take_backup(ops_services)
    runs = monthly_verification(ops_services, random.Random(7))
    assert [r.status for r in runs] == [RunStatus.OK, RunStatus.OK]
    newest, *older = list_backups(ops_services)
    assert runs[0].result["backup_id"] == newest.id
    assert runs[1].result["backup_id"] in {b.id for b in older}
