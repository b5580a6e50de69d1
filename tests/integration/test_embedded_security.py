"""The embedded server's socket is private and its logins authenticated (issue 10
point 1), and "is our server up" is decided by a connection attempt (issue 11
point 9)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgwarden.db.embedded import MAX_SOCKET_DIR, EmbeddedServer
from pgwarden.errors import EmbeddedServerError

PSQL = Path("/usr/lib/postgresql/15/bin/psql")
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def _long_home(tmp_path: Path) -> Path:
    home = tmp_path / ("x" * (MAX_SOCKET_DIR + 10 - len(str(tmp_path))))
    assert len(str(home / "data")) > MAX_SOCKET_DIR
    return home


def _as_nobody(sock: Path, user: str = "postgres") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNUSER, "-u", "nobody", "--", str(PSQL), "-X", "-w"]
        + ["-h", str(sock), "-p", "5432", "-U", user, "-d", "postgres", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )


@pytest.fixture
def long_server(server_dir: Path, pg_bin: Path | None) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(_long_home(server_dir), bin_dir=pg_bin)
    try:
        yield server
    finally:
        server.stop()
        # the product keeps it between runs (the name stays ours); a test's home is gone
        shutil.rmtree(server._socket_dir(), ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not PSQL.exists(), reason="needs root and psql 15")
def test_another_local_user_cannot_log_in_through_a_long_paths_socket(long_server):
    conninfo = long_server.start()
    sock = long_server.status().socket_dir
    assert sock is not None and str(sock).startswith("/tmp/pgwarden-")
    info = sock.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert pwd.getpwuid(info.st_uid).pw_name == "pgwarden"  # the server's user

    denied = _as_nobody(sock)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr

    # even with the directory opened up, identity is checked, never trusted
    sock.chmod(0o755)
    (sock / ".s.PGSQL.5432").chmod(0o777)
    try:
        refused = _as_nobody(sock)
        assert refused.returncode != 0
        assert "authentication failed" in refused.stderr, refused.stderr
    finally:
        sock.chmod(0o700)

    with psycopg.connect(conninfo) as conn:  # the owner (root, mapped) still logs in
        rules = conn.execute(
            "SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL"
        ).fetchall()
        assert rules and all(method != "trust" for _, method in rules)
        assert all(kind == "local" for kind, _ in rules)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play another user")
def test_a_socket_directory_someone_else_made_first_is_refused(long_server):
    sock = long_server._socket_dir()
    sock.mkdir(mode=0o777, exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(sock, nobody.pw_uid, nobody.pw_gid)
    try:
        with pytest.raises(EmbeddedServerError, match=f"{sock}.*owned by uid {nobody.pw_uid}"):
            long_server.start()
    finally:
        sock.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only under root")
def test_a_live_server_is_reused_when_its_user_lost_the_path_to_it(server_dir, pg_bin):
    # The cause of the flaky reuse: `pg_ctl status`, run as the server's user,
    # judged. A pytest session starting elsewhere takes o+x off
    # /tmp/pytest-of-root; pg_ctl then cannot read postmaster.pid, says "no
    # server running", and we started a second postmaster over the live one.
    outer = server_dir / "outer"
    server = EmbeddedServer(outer / "pg", bin_dir=pg_bin)
    conninfo = server.start()
    try:
        first = server.status().pid
        outer.chmod(0o700)  # root's: the server's user can no longer traverse it
        assert server.status().running and server.status().pid == first
        assert server.start() == conninfo
        assert server.status().pid == first
        log = (server.home / "server.log").read_text()
        assert "another server" not in log and "already exists" not in log
    finally:
        outer.chmod(0o755)
        server.stop()
