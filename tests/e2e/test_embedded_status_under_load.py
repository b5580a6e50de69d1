"""`db status` right after a start, many times, on a busy machine (issue 11 point 9)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest


@pytest.mark.slow
def test_db_status_never_starts_a_second_server_under_load(cli_embedded):
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        first = cli_embedded.run("db", "status", "--json")
        assert first.returncode == 0, first.stderr
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: cli_embedded.run("db", "status", "--json"), range(8)))
    finally:
        for p in burners:
            p.kill()
            p.wait()
    for r in results:
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["mode"] == "embedded"
    log = (cli_embedded.data_dir / "server.log").read_text()
    assert "another server might be running" not in log
    assert "already exists" not in log
