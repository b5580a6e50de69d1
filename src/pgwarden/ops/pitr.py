"""Point-in-time recovery through pgBackRest: configuration, checks, backups and a drill.

pgBackRest moves the bytes (WAL archiving, physical backups, restores);
pgwarden writes its configuration, runs it with argument lists and hard
timeouts, reads `info --output=json`, and proves recovery with a drill: a
restore to a time target into a scratch data directory and port, started,
asked for the rows written before the target, stopped and removed, with
the achieved RPO and RTO recorded.

When pgwarden runs as root, pgBackRest and the scratch server run as the
owner of the cluster's data directory (PostgreSQL refuses root).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from pgwarden.ops import tools
from pgwarden.ops.errors import OpsError
from pgwarden.ops.runner import RunContext, RunRecord, run_op

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

PITR_TIMEOUT = 600.0  # seconds for check, restore and the scratch server's start
BACKUP_TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class Cluster:
    data_directory: Path
    socket_dir: str
    port: int
    version_num: int
    wal_level: str
    archive_mode: str
    archive_command: str
    database: str
    user: str


def cluster(services: Services) -> Cluster:
    with services.db.connection() as conn:
        row = conn.execute(
            "SELECT current_setting('data_directory', true), "
            "split_part(current_setting('unix_socket_directories'), ',', 1), "
            "current_setting('port')::int, current_setting('server_version_num')::int, "
            "current_setting('wal_level'), current_setting('archive_mode'), "
            "current_setting('archive_command'), current_database(), current_user"
        ).fetchone()
    assert row is not None
    if not row[0]:
        raise OpsError(
            "the server's data_directory is not readable by this role; PITR needs a superuser "
            "or pg_read_all_settings on the server's own machine"
        )
    return Cluster(Path(row[0]), str(row[1]).strip(), *row[2:])


def render_config(
    stanza: str,
    *,
    repo: Path,
    data_dir: Path,
    socket_dir: str,
    port: int,
    user: str,
    work_dir: Path,
    retention_full: int = 2,
) -> str:
    """Pure: the text of a pgBackRest configuration for one stanza with a local repository."""
    return "\n".join(
        [
            "# written by `pgwarden ops pitr config`; review before relying on it",
            "[global]",
            f"repo1-path={repo}",
            f"repo1-retention-full={retention_full}",
            "start-fast=y",
            "log-level-console=warn",
            "log-level-file=info",
            f"log-path={work_dir / 'log'}",
            f"lock-path={work_dir / 'lock'}",
            f"spool-path={work_dir / 'spool'}",
            "",
            f"[{stanza}]",
            f"pg1-path={data_dir}",
            f"pg1-socket-path={socket_dir}",
            f"pg1-port={port}",
            f"pg1-user={user}",
            "",
        ]
    )


def archive_command(config_path: Path, stanza: str) -> str:
    return (
        f"pgbackrest --config={shlex.quote(str(config_path))} "
        f"--stanza={shlex.quote(stanza)} archive-push %p"
    )


def _quote(value: str) -> str:
    """A SQL string literal, for the lines printed for the operator to apply."""
    return "'" + value.replace("'", "''") + "'"


def _owner(path: Path) -> tuple[int | None, int | None]:
    """Run as the data directory's owner when we are root (else as ourselves)."""
    if os.geteuid() != 0:
        return None, None
    st = path.stat()
    return st.st_uid, st.st_gid


def _pgbackrest(
    services: Services, args: list[str], *, what: str, owner: tuple[int | None, int | None]
) -> str:
    exe = shutil.which("pgbackrest")
    if exe is None:
        raise OpsError("pgbackrest is not installed (e.g. `apt-get install pgbackrest`)")
    cfg = services.config
    config_path = str(cfg.get("ops.pgbackrest_config") or "")
    stanza = str(cfg.get("ops.pgbackrest_stanza") or "")
    if not config_path or not stanza:
        raise OpsError("PITR is not configured; run `pgwarden ops pitr config` first")
    _, env = tools.split_secret(services.db.conninfo)
    done = tools.run_tool(
        [exe, f"--config={config_path}", f"--stanza={stanza}", *args],
        what=what,
        env=env,
        timeout=min(PITR_TIMEOUT * 6, float(cfg.get("ops.command_timeout"))),
        cwd=Path("/"),
        user=owner[0],
        group=owner[1],
    )
    return done.stdout


def configure(
    services: Services,
    *,
    stanza: str,
    repo: Path,
    config_path: Path,
    create_stanza: bool = True,
    dry_run: bool = False,
) -> RunRecord:
    """Write the configuration, remember it in ops.pgbackrest_*, create the stanza."""
    from pgwarden.errors import InputInvalid

    if not stanza.replace("-", "").replace("_", "").isalnum():
        raise InputInvalid("stanza", stanza, "letters, digits, '-' and '_' only")
    c = cluster(services)

    def body(ctx: RunContext) -> dict[str, Any]:
        uid, gid = _owner(c.data_directory)
        user = pwd.getpwuid(uid).pw_name if uid is not None else None
        work = config_path.parent / f"pgbackrest-{stanza}"
        text = render_config(
            stanza,
            repo=repo,
            data_dir=c.data_directory,
            socket_dir=c.socket_dir,
            port=c.port,
            user=c.user,
            work_dir=work,
        )
        command = archive_command(config_path, stanza)
        settings = {
            "wal_level": "replica" if c.wal_level == "minimal" else c.wal_level,
            "archive_mode": "on",
            "archive_command": command,
        }
        todo = [
            f"ALTER SYSTEM SET {k} = {_quote(v)};"
            for k, v in settings.items()
            if (k, v) != ("wal_level", c.wal_level)
            and (k, v) != ("archive_mode", c.archive_mode)
            and (k, v) != ("archive_command", c.archive_command)
        ]
        restart = c.archive_mode == "off" or c.wal_level == "minimal"
        plan = {
            "config_path": str(config_path),
            "config": text,
            "archive_command": command,
            "server_settings_to_apply": todo,
            "restart_needed": restart,
            "run_as": user or "current user",
        }
        if ctx.dry_run:
            return plan
        for d in (repo, work, work / "log", work / "lock", work / "spool"):
            d.mkdir(parents=True, exist_ok=True, mode=0o750)
            if uid is not None:
                os.chown(d, uid, gid or -1)
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(text, encoding="utf-8")
        os.chmod(config_path, 0o640)
        if uid is not None:
            os.chown(config_path, uid, gid or -1)
        services.config.set("ops.pgbackrest_stanza", stanza)
        services.config.set("ops.pgbackrest_config", str(config_path))
        if create_stanza:
            _pgbackrest(
                services, ["stanza-create"], what="pgbackrest stanza-create", owner=(uid, gid)
            )
        return plan

    return run_op(
        services,
        "pitr_config",
        c.database,
        body,
        dry_run=dry_run,
        params={"stanza": stanza, "repo": str(repo)},
    )


def parse_info(text: str, now: datetime) -> dict[str, Any]:
    """Pure: the facts of `pgbackrest info --output=json` for the first stanza."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OpsError(f"pgbackrest info gave no JSON: {exc}") from exc
    if not data:
        return {"status": "no stanza", "ok": False, "backups": {}}
    st = data[0]
    status = st.get("status", {})
    last: dict[str, Any] = {}
    for b in st.get("backup", []):
        stop = b.get("timestamp", {}).get("stop")
        if stop is None:
            continue
        when = datetime.fromtimestamp(int(stop), UTC)
        last[b.get("type", "?")] = {
            "label": b.get("label"),
            "stopped_at": when.isoformat(),
            "age_hours": round((now - when).total_seconds() / 3600, 2),
            "error": bool(b.get("error", False)),
        }
    archives = st.get("archive", [])
    return {
        "stanza": st.get("name"),
        "status_code": status.get("code"),
        "status": status.get("message"),
        "ok": status.get("code") == 0,
        "backups": last,
        "backup_errors": sum(1 for b in st.get("backup", []) if b.get("error")),
        "archive_min": archives[0].get("min") if archives else None,
        "archive_max": archives[0].get("max") if archives else None,
    }


def check(services: Services) -> RunRecord:
    """`pgbackrest check` (archiving works) and `info`: backup ages and archive range."""
    c = cluster(services)
    owner = _owner(c.data_directory)

    def body(ctx: RunContext) -> dict[str, Any]:
        _pgbackrest(services, ["check"], what="pgbackrest check", owner=owner)
        info = parse_info(
            _pgbackrest(services, ["info", "--output=json"], what="pgbackrest info", owner=owner),
            datetime.now(UTC),
        )
        if not info["ok"] and info.get("status_code") != 2:  # 2: no valid backups (yet)
            raise OpsError(f"pgbackrest stanza {info.get('stanza')}: {info.get('status')}")
        if "full" not in info["backups"]:
            ctx.partial = "archiving works but there is no full backup; run `ops pitr backup`"
        elif info["backup_errors"]:
            ctx.partial = f"{info['backup_errors']} backup(s) with errors in the repository"
        return info

    return run_op(services, "pitr_check", c.database, body)


def backup(services: Services, kind: str = "full") -> RunRecord:
    """A physical backup by pgBackRest (full, diff or incr)."""
    from pgwarden.errors import InputInvalid

    if kind not in BACKUP_TYPES:
        raise InputInvalid("type", kind, "must be full, diff or incr")
    c = cluster(services)

    def body(ctx: RunContext) -> dict[str, Any]:
        started = time.perf_counter()
        _pgbackrest(
            services,
            ["backup", f"--type={kind}"],
            what="pgbackrest backup",
            owner=_owner(c.data_directory),
        )
        return {"type": kind, "seconds": round(time.perf_counter() - started, 3)}

    return run_op(services, "pitr_backup", c.database, body)


def drill(
    services: Services,
    *,
    target_time: datetime | None = None,
    port: int = 55432,
    bin_dir: Path | None = None,
) -> RunRecord:
    """Restore to `target_time` (default: now) in a scratch cluster, check it, remove it."""
    c = cluster(services)
    owner = _owner(c.data_directory)
    schema = services.db.schema

    def body(ctx: RunContext) -> dict[str, Any]:
        pg_ctl = tools.find_tool(services, "pg_ctl", bin_dir)
        if pg_ctl.major != c.version_num // 10000:
            raise OpsError(
                f"pg_ctl {pg_ctl.version} ({pg_ctl.path}) cannot start a PostgreSQL "
                f"{c.version_num // 10000} data directory; set ops.bin_dir"
            )
        runs = sql.Identifier(schema, "ops_runs")
        with services.db.connection() as conn:
            target = target_time or conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            expected = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE started_at <= %s").format(runs), [target]
            ).fetchone()[0]  # type: ignore[index]
        # a commit after the target, then archived: recovery has something to stop at
        ctx.progress(target=target.isoformat(), expected_runs=expected)
        _pgbackrest(services, ["check"], what="pgbackrest check", owner=owner)
        scratch = Path(tempfile.mkdtemp(prefix="pgwarden-drill-"))
        data, sock = scratch / "data", scratch / "s"
        for d in (data, sock):
            d.mkdir(mode=0o700)
        for d in (scratch, data, sock):
            if owner[0] is not None:
                os.chown(d, owner[0], owner[1] or -1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        started = time.perf_counter()
        try:
            _pgbackrest(
                services,
                [
                    "restore",
                    f"--pg1-path={data}",
                    "--type=time",
                    f"--target={target.isoformat(sep=' ')}",
                    "--target-action=promote",
                ],
                what="pgbackrest restore",
                owner=owner,
            )
            options = (
                f"-c port={port} -c unix_socket_directories={sock} "
                "-c listen_addresses='' -c archive_mode=off"
            )
            tools.run_tool(
                [
                    str(pg_ctl.path),
                    "-D",
                    str(data),
                    "-l",
                    str(scratch / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(int(PITR_TIMEOUT)),
                    "start",
                ],
                what="pg_ctl start (drill)",
                env=env,
                timeout=PITR_TIMEOUT,
                cwd=scratch,
                user=owner[0],
                group=owner[1],
            )
            conninfo = f"host={sock} port={port} dbname={c.database} user={c.user}"
            deadline = time.monotonic() + PITR_TIMEOUT
            with psycopg.connect(conninfo, autocommit=True) as sc:
                while sc.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise OpsError("the drill's server did not leave recovery in time")
                    time.sleep(0.2)
                rto = time.perf_counter() - started
                found, replayed = sc.execute(
                    sql.SQL(
                        "SELECT (SELECT count(*) FROM {} WHERE started_at <= %s), "
                        "pg_last_xact_replay_timestamp()"
                    ).format(runs),
                    [target],
                ).fetchone()  # type: ignore[misc]
        finally:
            if (data / "postmaster.pid").exists():
                try:
                    tools.run_tool(
                        [str(pg_ctl.path), "-D", str(data), "-m", "immediate", "-w", "stop"],
                        what="pg_ctl stop (drill)",
                        env=env,
                        timeout=120,
                        cwd=scratch,
                        user=owner[0],
                        group=owner[1],
                    )
                except OpsError as exc:
                    log.warning("drill server stop: %s", exc, extra={"action": "ops_drill"})
            shutil.rmtree(scratch, ignore_errors=True)
        if found != expected:
            raise OpsError(
                f"PITR drill: {found} run records at or before {target.isoformat()} after the "
                f"restore, {expected} in the source"
            )
        rpo = (target - replayed).total_seconds() if replayed else None
        return {
            "target": target,
            "rows_checked": expected,
            "rto_seconds": round(rto, 3),
            "rpo_seconds": round(rpo, 3) if rpo is not None else None,
            "last_replayed": replayed,
        }

    return run_op(services, "pitr_drill", c.database, body, params={"target_time": target_time})
