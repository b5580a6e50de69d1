"""Logical backups: pg_dump in an exported snapshot, exact row counts, a manifest, a catalog row.

The row counts are taken on the connection that exported the snapshot
pg_dump reads, while that snapshot is held open, so a restore of the
archive must give exactly these counts. A backup is COMPLETE only once its
manifest is written and the archive's checksum has been re-read from disk;
any failure removes what was written, so a partial file never looks like a
backup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.errors import NotFound
from pgwarden.jsonable import jsonable
from pgwarden.ops import tools
from pgwarden.ops.errors import BackupDirUnusable, OpsError
from pgwarden.ops.runner import RunContext, RunRecord, queries, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

FORMATS = {"custom": "c", "directory": "d"}
MANIFEST_VERSION = 1
_TOC_LINE = re.compile(r"^\d+;\s+(\d+)\s+(\d+)\s+(.*)$")


@dataclass(frozen=True)
class Backup:
    id: int
    target: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    format: str
    path: str
    manifest_path: str | None
    bytes: int | None
    sha256: str | None
    toc_entries: int | None
    server_version: str | None
    client_version: str | None
    scope: dict[str, Any]
    manifest: dict[str, Any] | None
    verified_at: datetime | None
    verify_ok: bool | None
    verify_seconds: float | None
    verify_error: str | None
    deleted_at: datetime | None
    delete_reason: str | None

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "manifest"}
        now = now or datetime.now(UTC)
        d["age_hours"] = round((now - self.started_at).total_seconds() / 3600, 2)
        return jsonable(d)


# -- the catalog ------------------------------------------------------------


def list_backups(
    services: Services, target: str | None = None, *, include_deleted: bool = False
) -> list[Backup]:
    with services.db.connection() as conn:
        rows = conn.execute(
            queries(services)["list_backups"], {"target": target, "all": include_deleted}
        ).fetchall()
    return [Backup(*r) for r in rows]


def get_backup(services: Services, ref: str | int, target: str | None = None) -> Backup:
    """A complete backup by id, or 'latest' (the newest complete one)."""
    complete = [b for b in list_backups(services, target) if b.status == "COMPLETE"]
    if str(ref) == "latest":
        if not complete:
            raise NotFound(
                "backup", "latest (there is no complete backup; run `pgwarden ops backup`)"
            )
        return complete[0]
    try:
        wanted = int(ref)
    except ValueError:
        raise NotFound("backup", ref) from None
    for b in list_backups(services, None, include_deleted=True):
        if b.id == wanted:
            if b.status != "COMPLETE":
                raise OpsError(f"backup {b.id} is {b.status}, not COMPLETE; it cannot be used")
            return b
    raise NotFound("backup", ref)


def backup_dir(services: Services) -> Path:
    """ops.backup_dir, or `backups` beside the embedded server's data."""
    configured = str(services.config.get("ops.backup_dir") or "").strip()
    if configured:
        return Path(configured).expanduser()
    s = services.db.settings
    if s.uses_embedded:
        return Path(s.data_dir).expanduser() / "backups"
    import platformdirs

    return Path(platformdirs.user_data_dir("pgwarden")) / "backups"


def ensure_backup_dir(path: Path) -> Path:
    """Create the directory (0700) and prove it takes a file; BackupDirUnusable otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupDirUnusable(path, f"cannot be created ({exc.strerror or exc})") from exc
    if not path.is_dir():
        raise BackupDirUnusable(path, "is not a directory")
    probe = path / f".pgwarden-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        probe.unlink()
    except OSError as exc:
        raise BackupDirUnusable(path, f"is not writable ({exc.strerror or exc})") from exc
    return path


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a directory archive's files in name order."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def parse_toc(text: str) -> list[tuple[int, str]]:
    """(catalog oid, description) of each entry of `pg_restore --list`."""
    entries = []
    for line in text.splitlines():
        m = _TOC_LINE.match(line.strip())
        if m:
            entries.append((int(m.group(2)), m.group(3)))
    return entries


def toc_kinds(entries: list[tuple[int, str]]) -> dict[str, int]:
    """How many entries of each kind a TOC has (TABLE, TABLE DATA, INDEX, SEQUENCE, ...)."""
    kinds = (
        "TABLE DATA",
        "TABLE ATTACH",
        "TABLE",
        "SEQUENCE SET",
        "SEQUENCE OWNED BY",
        "SEQUENCE",
        "INDEX ATTACH",
        "INDEX",
        "FK CONSTRAINT",
        "CONSTRAINT",
    )
    counts: dict[str, int] = {}
    for _, desc in entries:
        for kind in kinds:
            if desc.startswith(kind + " "):
                counts[kind] = counts.get(kind, 0) + 1
                break
    return counts


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- taking a backup --------------------------------------------------------


def take_backup(
    services: Services,
    *,
    fmt: str = "custom",
    jobs: int | None = None,
    schema_only: bool = False,
    tables: tuple[str, ...] = (),
    dry_run: bool = False,
    bin_dir: Path | None = None,
) -> RunRecord:
    """`pg_dump` of the target database, recorded in the catalog; see the module docstring."""
    if fmt not in FORMATS:
        from pgwarden.errors import InputInvalid

        raise InputInvalid("format", fmt, "must be custom or directory")
    with services.db.connection() as conn:
        row = conn.execute(queries(services)["server_info"]).fetchone()
    assert row is not None
    version_num, server_version, target = int(row[0]), str(row[1]), str(row[2])
    params = {
        "format": fmt,
        "jobs": jobs,
        "schema_only": schema_only,
        "tables": list(tables),
    }

    def body(ctx: RunContext) -> dict[str, Any]:
        return _backup(
            ctx, target, version_num, server_version, fmt, jobs, schema_only, tables, bin_dir
        )

    return run_op(services, "backup", target, body, dry_run=dry_run, params=params)


def _backup(
    ctx: RunContext,
    target: str,
    version_num: int,
    server_version: str,
    fmt: str,
    jobs: int | None,
    schema_only: bool,
    tables: tuple[str, ...],
    bin_dir: Path | None,
) -> dict[str, Any]:
    services = ctx.services
    cfg = services.config
    timeout = float(cfg.get("ops.command_timeout"))
    jobs = jobs or int(cfg.get("ops.backup_jobs"))
    major = version_num // 10000
    pg_dump = tools.find_tool(services, "pg_dump", bin_dir, major)
    pg_restore = tools.find_tool(services, "pg_restore", bin_dir, major)
    tools.check_client(pg_dump, version_num, server_version)
    tools.check_client(pg_restore, version_num, server_version)
    directory = ensure_backup_dir(backup_dir(services))
    conninfo, env = tools.split_secret(services.db.conninfo)
    plan = {
        "target": target,
        "directory": str(directory),
        "pg_dump": f"{pg_dump.path} ({pg_dump.version})",
        "server_version": server_version,
        "format": fmt,
        "jobs": jobs if fmt == "directory" else 1,
        "scope": "schema only"
        if schema_only
        else ("tables " + ", ".join(tables) if tables else "whole database"),
    }
    if ctx.dry_run:
        return {"plan": plan}
    q = queries(services)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = {"schema_only": schema_only, "tables": list(tables)}
    with services.db.connection() as conn:
        row = conn.execute(
            q["insert_backup"],
            {
                "run_id": ctx.run_id,
                "target": target,
                "format": fmt,
                "path": str(directory),
                "scope": Jsonb(scope),
                "server_version": server_version,
                "client_version": pg_dump.version,
            },
        ).fetchone()
    assert row is not None
    backup_id = int(row[0])
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)[:60]
    name = f"{safe}_{stamp}_{backup_id}" + (".dump" if fmt == "custom" else ".dir")
    final = directory / name
    partial = directory / (name + ".partial")
    manifest_path = directory / (name + ".manifest.json")
    manifest_partial = directory / (name + ".manifest.json.partial")
    ctx.result["backup_id"] = backup_id
    started = time.perf_counter()
    try:
        snap_conn = psycopg.connect(services.db.session_conninfo("pgwarden-ops-snapshot"))
        try:
            snap_conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # one backend counting beside pg_dump, not a parallel gang competing with it
            snap_conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            got = snap_conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert got is not None
            snapshot = str(got[0])
            counts: dict[int, tuple[str, str, int]] = {}
            counter: threading.Thread | None = None
            count_error: list[BaseException] = []
            if not schema_only and not tables:
                # Count while pg_dump reads: same snapshot, and the two overlap in time.
                candidates = snap_conn.execute(q["user_tables"]).fetchall()
                counter = threading.Thread(
                    target=_count_into,
                    args=(snap_conn, candidates, counts, count_error),
                    name="pgwarden-backup-counts",
                )
                counter.start()
            args = [
                str(pg_dump.path),
                f"--format={FORMATS[fmt]}",
                f"--file={partial}",
                f"--snapshot={snapshot}",
                "--no-password",
            ]
            if fmt == "directory" and jobs > 1:
                args.append(f"--jobs={jobs}")
            if schema_only:
                args.append("--schema-only")
            args += [f"--table={t}" for t in tables]
            args.append(f"--dbname={conninfo}")
            try:
                tools.run_tool(args, what="pg_dump", env=env, timeout=timeout)
            finally:
                if counter is not None:
                    counter.join()
            if count_error:
                raise OpsError(f"counting rows in the backup's snapshot failed: {count_error[0]}")
            dump_seconds = time.perf_counter() - started
            listed = tools.run_tool(
                [str(pg_restore.path), "--list", str(partial)],
                what="pg_restore --list",
                env=env,
                timeout=timeout,
            )
            entries = parse_toc(listed.stdout)
            data_oids = [oid for oid, desc in entries if desc.startswith("TABLE DATA ")]
            missing = [oid for oid in data_oids if oid not in counts]
            if missing and not schema_only:
                named = snap_conn.execute(q["tables_by_oid"], {"oids": missing}).fetchall()
                _count_into(snap_conn, named, counts, count_error)
                if count_error:
                    raise OpsError(f"counting rows failed: {count_error[0]}")
            row_counts = {
                f"{counts[o][0]}.{counts[o][1]}": counts[o][2] for o in data_oids if o in counts
            }
        finally:
            snap_conn.close()
        digest = sha256_of(partial)
        size = size_of(partial)
        _private(partial)
        partial.rename(final)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "backup_id": backup_id,
            "target": target,
            "created_at": stamp,
            "server_version": server_version,
            "client_version": pg_dump.version,
            "pg_dump": str(pg_dump.path),
            "snapshot": snapshot,
            "format": fmt,
            "scope": scope,
            "file": final.name,
            "bytes": size,
            "sha256": digest,
            "toc_entries": len(entries),
            "toc_kinds": toc_kinds(entries),
            "row_counts": row_counts,
            "row_counts_exact": True,
            "dump_seconds": round(dump_seconds, 3),
        }
        with open(manifest_partial, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(manifest_partial, 0o600)
        manifest_partial.rename(manifest_path)
        reread = sha256_of(final)
        if reread != digest:
            raise OpsError(
                f"backup {final}: checksum changed between writing and re-reading "
                f"({digest[:12]}… then {reread[:12]}…); the disk may be failing"
            )
        with services.db.connection() as conn:
            conn.execute(
                q["complete_backup"],
                {
                    "id": backup_id,
                    "path": str(final),
                    "manifest_path": str(manifest_path),
                    "bytes": size,
                    "sha256": digest,
                    "toc_entries": len(entries),
                    "manifest": Jsonb(manifest),
                },
            )
    except BaseException as exc:
        for leftover in (partial, final, manifest_partial, manifest_path):
            _remove(leftover)
        with services.db.connection() as conn:
            conn.execute(q["fail_backup"], {"id": backup_id, "error": str(exc)[:2000]})
        raise
    log.info(
        "backup %d of %s: %d bytes, %d tables",
        backup_id,
        target,
        size,
        len(row_counts),
        extra={"action": "ops_backup"},
    )
    result = {
        "backup_id": backup_id,
        "path": str(final),
        "bytes": size,
        "sha256": digest,
        "toc_entries": len(entries),
        "tables": len(row_counts),
        "rows": sum(row_counts.values()),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return result


def _count_into(
    conn: psycopg.Connection,
    tables: list[tuple[Any, ...]],
    into: dict[int, tuple[str, str, int]],
    errors: list[BaseException],
) -> None:
    try:
        for oid, schema, name in tables:
            got = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            ).fetchone()
            into[int(oid)] = (schema, name, int(got[0]) if got else 0)
    except BaseException as exc:  # reported by the caller, after pg_dump ends
        errors.append(exc)


def _private(path: Path) -> None:
    if path.is_dir():
        os.chmod(path, 0o700)
        for p in path.rglob("*"):
            os.chmod(p, 0o700 if p.is_dir() else 0o600)
    else:
        os.chmod(path, 0o600)
