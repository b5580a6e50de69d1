"""`pgwarden run` rides through a killed postmaster (issue 10 point 8): /readyz 503
meanwhile, the embedded server restarted by the service itself, no batch lost;
and when the database never comes back, one line and exit 1."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.waits import free_port, stop_process, wait_for

pytestmark = pytest.mark.slow
TOKEN = "restart-token-123"


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "data" / "postmaster.pid").read_text().splitlines()[0])


def _post(base: str, batch_id: str) -> int:
    body = {"source": "restart_src", "batch_id": batch_id, "records": [{"id": 1, "v": 2}]}
    try:
        r = httpx.post(
            f"{base}/api/batches",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return 0
    return r.status_code


def _batch_status(base: str, batch_id: str) -> str | None:
    try:
        r = httpx.get(f"{base}/api/batches/{batch_id}", timeout=5)
    except httpx.HTTPError:
        return None
    return r.json().get("status") if r.status_code == 200 else None


@pytest.fixture
def run(cli_embedded):
    cli = cli_embedded
    port = free_port()
    cli.env.update(
        PGWARDEN_API_TOKEN=TOKEN, PGWARDEN_HTTP_PORT=str(port), PGWARDEN_RECONNECT_TIMEOUT="60"
    )
    proc = cli.popen("run", "--concurrency", "2", log_name="run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(f"{base}/readyz") == 200, 90, "readyz")
        yield base, proc, cli, cli.data_dir
    finally:
        stop_process(proc)


def test_run_rides_through_a_killed_postmaster_and_loses_no_batch(run):
    base, proc, cli, data_dir = run
    assert _post(base, "before-kill") == 202
    wait_for(lambda: _batch_status(base, "before-kill") == "DONE", 60, "first batch done")

    first = _postmaster_pid(data_dir)
    os.kill(first, signal.SIGKILL)
    killed = time.monotonic()
    saw_503 = wait_for(lambda: _status(f"{base}/readyz") == 503, 30, "/readyz 503")
    assert saw_503 and proc.poll() is None

    # the service restarts the embedded server itself: no CLI command runs meanwhile
    wait_for(lambda: _status(f"{base}/readyz") == 200, 90, "/readyz back to 200")
    assert _postmaster_pid(data_dir) != first
    # at once, not when the worker's pools give up waiting (15 to 40 s before the
    # watch); a job in flight may hold the stop for its pool's wait (10 s)
    back_after = time.monotonic() - killed
    assert back_after < 15, f"the server came back {back_after:.1f} s after it was killed"
    assert wait_for(lambda: _post(base, "after-kill") == 202, 30, "ingest again")
    wait_for(
        lambda: _batch_status(base, "after-kill") == "DONE", 90, "batch after the restart done"
    )
    assert proc.poll() is None
    log = (cli.cwd / "run.log").read_text()
    # (procrastinate logs its lost listener with a stack; the process goes on)
    assert "database lost" in log and "database back" in log


def test_run_gives_up_with_one_line_and_exit_1(cli_embedded):
    cli = cli_embedded
    port = free_port()
    cli.env.update(
        PGWARDEN_API_TOKEN=TOKEN, PGWARDEN_HTTP_PORT=str(port), PGWARDEN_RECONNECT_TIMEOUT="5"
    )
    proc = cli.popen("run", log_name="giveup.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(f"{base}/readyz") == 200, 90, "readyz")
        data = cli.data_dir / "data"
        pid = _postmaster_pid(cli.data_dir)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(0.5)
        # a lock file the server cannot parse: every restart attempt fails
        (data / "postmaster.pid").write_text("garbage\n")
        code = proc.wait(timeout=120)
        ended_after = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        (cli.data_dir / "data" / "postmaster.pid").unlink(missing_ok=True)
    log = (cli.cwd / "giveup.log").read_text()
    assert code == 1, log[-2000:]
    assert "gave up reconnecting after 5 s" in log and "Traceback" not in log
    # the 5 s of reconnecting start when the server dies, not 30 s later (34-45 s
    # before the watch); the start-up's jobs in flight may hold the stop for their
    # pool's wait (10 s)
    assert ended_after < 20, f"exited {ended_after:.1f} s after the kill"
