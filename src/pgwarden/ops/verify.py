"""Restore tests and real restores of a logical backup.

A verification restores into a scratch database with `pg_restore -j N
--exit-on-error` (any non-zero status fails it), then demands the manifest's
row count for every table exactly, the TOC's number of tables, sequences,
indexes and foreign keys, and no invalid index. The scratch database is
dropped in `finally`; one left by a killed run is dropped by the next
verification of the same target, which then holds that target's lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgwarden.errors import InputInvalid
from pgwarden.ops import tools
from pgwarden.ops.backup import Backup, get_backup, sha256_of
from pgwarden.ops.errors import OpsError
from pgwarden.ops.runner import RunContext, RunRecord, queries, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "pgwarden_verify_"


def scratch_prefix(target: str) -> str:
    return SCRATCH_PREFIX + hashlib.sha256(target.encode()).hexdigest()[:8] + "_"


def _admin(services: Services) -> psycopg.Connection:
    return psycopg.connect(services.db.session_conninfo("pgwarden-ops-admin"), autocommit=True)


def drop_database(services: Services, name: str) -> None:
    with _admin(services) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def janitor(services: Services, target: str) -> list[str]:
    """Drop the scratch databases a killed verification of `target` left (caller holds its lock)."""
    with services.db.connection() as conn:
        rows = conn.execute(
            queries(services)["scratch_databases"],
            {"prefix": scratch_prefix(target).replace("_", r"\_") + "%"},
        ).fetchall()
    dropped = []
    for (name,) in rows:
        drop_database(services, name)
        dropped.append(name)
        log.warning("dropped leftover scratch database %s", name, extra={"action": "ops_janitor"})
    return dropped


def check_archive(backup: Backup) -> None:
    """The archive is there and its sha256 is the catalog's; OpsError naming the file otherwise."""
    path = Path(backup.path)
    if not path.exists():
        raise OpsError(f"backup {backup.id}: archive {path} is missing")
    got = sha256_of(path)
    if got != backup.sha256:
        raise OpsError(
            f"backup {backup.id}: archive {path} fails its checksum (catalog sha256 "
            f"{(backup.sha256 or '')[:16]}…, file {got[:16]}…); it is corrupt or was changed"
        )


def _check_into(backup: Backup, out: list[BaseException | None]) -> None:
    try:
        check_archive(backup)
        out.append(None)
    except BaseException as exc:  # handed to the verifying thread
        out.append(exc)


def _restore_into(
    services: Services, backup: Backup, dbname: str, jobs: int, bin_dir: Path | None
) -> float:
    """CREATE DATABASE + pg_restore; returns the seconds the restore took."""
    with services.db.connection() as conn:
        row = conn.execute(queries(services)["server_info"]).fetchone()
    assert row is not None
    pg_restore = tools.find_tool(services, "pg_restore", bin_dir, int(row[0]) // 10000)
    tools.check_client(pg_restore, int(row[0]), str(row[1]))
    with _admin(services) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname))
        )
    conninfo, env = tools.split_secret(services.db.conninfo, dbname=dbname)
    args = [
        str(pg_restore.path),
        f"--dbname={conninfo}",
        f"--jobs={max(1, jobs)}",
        "--exit-on-error",
        "--no-password",
        backup.path,
    ]
    started = time.perf_counter()
    tools.run_tool(
        args,
        what="pg_restore",
        env=env,
        timeout=float(services.config.get("ops.command_timeout")),
    )
    return time.perf_counter() - started


def compare(
    services: Services, backup: Backup, dbname: str, warnings: list[str] | None = None
) -> list[str]:
    """Differences between a restored database and the backup's manifest and TOC.

    Sequences behind their column's max are appended to `warnings`: the restore
    is faithful, the source has the same latent collision.
    """
    manifest = backup.manifest or {}
    problems: list[str] = []
    warnings = warnings if warnings is not None else []
    conninfo = make_conninfo(services.db.conninfo, dbname=dbname)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name, expected in sorted((manifest.get("row_counts") or {}).items()):
            schema, _, table = name.partition(".")
            try:
                got = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
                ).fetchone()
            except psycopg.errors.UndefinedTable:
                problems.append(f"table {name}: missing after restore")
                continue
            n = int(got[0]) if got else 0
            if n != expected:
                problems.append(f"table {name}: {n} rows restored, manifest says {expected}")
        row = conn.execute(queries(services)["object_counts"]).fetchone()
        for seq_schema, seq, schema, table, column in conn.execute(
            queries(services)["owned_sequences"]
        ).fetchall():
            got = conn.execute(
                sql.SQL(
                    "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
                    "FROM {s}), (SELECT max({c}) FROM {t})"
                ).format(
                    s=sql.Identifier(seq_schema, seq),
                    c=sql.Identifier(column),
                    t=sql.Identifier(schema, table),
                )
            ).fetchone()
            if got and got[1] is not None and got[0] < got[1]:
                warnings.append(
                    f"sequence {seq_schema}.{seq} is at {got[0]} below max({column}) = {got[1]} "
                    f"of {schema}.{table}: the next insert would collide"
                )
    assert row is not None
    tables, sequences, indexes, fks, invalid = (int(v) for v in row)
    kinds = manifest.get("toc_kinds") or {}
    for label, have, want in (
        ("tables", tables, kinds.get("TABLE", 0)),
        ("sequences", sequences, kinds.get("SEQUENCE", 0)),
        ("indexes", indexes, kinds.get("INDEX", 0)),
        ("foreign keys", fks, kinds.get("FK CONSTRAINT", 0)),
    ):
        if have != want:
            problems.append(f"{label}: {have} restored, the archive's TOC lists {want}")
    if invalid:
        problems.append(f"{invalid} invalid index(es) after restore")
    return problems


def verify_backup(
    services: Services,
    ref: str | int = "latest",
    *,
    jobs: int | None = None,
    dry_run: bool = False,
    bin_dir: Path | None = None,
) -> RunRecord:
    """Restore-test one backup; the run is FAILED (and raised) on any difference."""
    backup = get_backup(services, ref)
    jobs = jobs or int(services.config.get("ops.backup_jobs"))

    def body(ctx: RunContext) -> dict[str, Any]:
        dropped = janitor(services, backup.target)
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        scratch = f"{scratch_prefix(backup.target)}{backup.id}_{stamp}"
        ctx.result.update(backup_id=backup.id, scratch=scratch, janitor_dropped=dropped)
        if ctx.dry_run:
            return {
                "plan": f"restore backup {backup.id} ({backup.path}) into {scratch}, compare, drop"
            }
        ctx.progress(scratch=scratch)
        q = queries(services)
        seconds: float | None = None
        # The checksum is read while pg_restore runs (into a scratch that is dropped
        # anyway); a mismatch wins over whatever the restore said about the same file.
        checked: list[BaseException | None] = []
        hasher = threading.Thread(target=_check_into, args=(backup, checked), daemon=True)
        hasher.start()
        try:
            try:
                seconds = _restore_into(services, backup, scratch, jobs, bin_dir)
            finally:
                hasher.join()
                if checked and checked[0] is not None:
                    raise checked[0]
            warnings: list[str] = []
            problems = compare(services, backup, scratch, warnings)
            ctx.result["warnings"] = warnings
            if problems:
                raise OpsError(
                    f"backup {backup.id} restored with differences: " + "; ".join(problems[:20])
                )
        except BaseException as exc:
            with services.db.connection() as conn:
                conn.execute(
                    q["record_verify"],
                    {"id": backup.id, "ok": False, "seconds": seconds, "error": str(exc)[:2000]},
                )
            raise
        finally:
            drop_database(services, scratch)
        with services.db.connection() as conn:
            conn.execute(
                q["record_verify"], {"id": backup.id, "ok": True, "seconds": seconds, "error": None}
            )
        rows = sum((backup.manifest or {}).get("row_counts", {}).values())
        return {
            "restore_seconds": round(seconds, 3),
            "tables": len((backup.manifest or {}).get("row_counts", {})),
            "rows": rows,
        }

    return run_op(
        services, "verify", backup.target, body, dry_run=dry_run, params={"backup_id": backup.id}
    )


def restore_backup(
    services: Services,
    ref: str | int,
    into: str,
    *,
    replace: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
    bin_dir: Path | None = None,
) -> RunRecord:
    """Restore a backup into database `into`; refuses an existing one unless `replace`."""
    if not into or len(into.encode()) > 63:
        raise InputInvalid("into", into, "must be a database name of 1 to 63 bytes")
    backup = get_backup(services, ref)
    jobs = jobs or int(services.config.get("ops.backup_jobs"))
    with services.db.connection() as conn:
        row = conn.execute(queries(services)["database_exists"], {"name": into}).fetchone()
        current = conn.execute("SELECT current_database()").fetchone()
    exists = bool(row and row[0])
    if current and into == current[0]:
        raise InputInvalid("into", into, "is the database pgwarden is connected to")
    if exists and not replace:
        raise InputInvalid(
            "into", into, "database exists; pass --replace to drop it and restore in its place"
        )

    def body(ctx: RunContext) -> dict[str, Any]:
        plan = (
            f"{'drop database ' + into + ', then ' if exists else ''}create {into} and restore "
            f"backup {backup.id} ({backup.path}, {backup.bytes} bytes) into it"
        )
        if ctx.dry_run:
            return {"plan": plan}
        check_archive(backup)
        if exists:
            drop_database(services, into)
        try:
            seconds = _restore_into(services, backup, into, jobs, bin_dir)
            problems = compare(services, backup, into)
            if problems:
                raise OpsError(f"restore into {into} differs: " + "; ".join(problems[:20]))
        except BaseException:
            drop_database(services, into)  # nothing half-restored stays behind
            raise
        return {"backup_id": backup.id, "into": into, "restore_seconds": round(seconds, 3)}

    return run_op(
        services,
        "restore",
        into,
        body,
        dry_run=dry_run,
        params={"backup_id": backup.id, "into": into, "replace": replace},
    )


def backup_then_verify(services: Services, **options: Any) -> list[RunRecord]:
    """A backup, then its restore test when ops.verify_after_backup is on."""
    from pgwarden.ops.backup import take_backup

    runs = [take_backup(services, **options)]
    done = runs[0]
    if (
        services.config.get("ops.verify_after_backup")
        and not done.dry_run
        and done.status.value == "OK"
        and done.result.get("backup_id")
    ):
        runs.append(verify_backup(services, int(done.result["backup_id"])))
    return runs


def monthly_verification(services: Services, rng: Any = None) -> list[RunRecord]:
    """The scheduled restore test: the latest backup, and one random older complete one."""
    import random

    from pgwarden.ops.backup import list_backups

    runs = [verify_backup(services, "latest")]
    older = [b for b in list_backups(services) if b.status == "COMPLETE"][1:]
    if older:
        pick = (rng or random).choice(older)
        runs.append(verify_backup(services, pick.id))
    return runs
