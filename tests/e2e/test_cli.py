import os
import signal
import time

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_on_a_fresh_embedded_server(cli_embedded):
    result = cli_embedded.run("demo", "--duration", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "PostgreSQL 18" in out and "heartbeat:  ran on demo-worker" in out
    # seed 003's 15 tables, seed 000's raw metrics, pgwarden's own five
    assert "registered: 3 models, 4 rule sets, 21 partition policies" in out
    assert "health:     self up (PostgreSQL 18" in out
    # past days first, then the injected anomalies found and explained
    assert "backfill:   240 past batches" in out and "without model cycles" in out
    assert "spike    user_events" in out
    story = out.split("anomalies:  ")[1]
    assert int(story.split(" alert")[0]) >= 1
    assert "user_events: volume spike" in story
    assert "observed 6,000, expected" in story and "      → " in story
    sent = int(out.split("stream:")[1].split("batches sent")[0])
    assert sent >= 15  # 2 batches/s for 10 s
    assert "daily report" in out and "dashboard:  http://" in out
    for source in ("user_events", "transaction_logs", "system_metrics", "api_calls"):
        assert source in out
    # The server keeps running and is reused by the next command.
    status = cli_embedded.run("db", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"mode": "embedded"' in status.stdout
    assert '"preloaded": "pg_stat_statements"' in status.stdout
    # Library noise stays out of the user's terminal.
    assert "XDG_RUNTIME_DIR" not in result.stderr + status.stderr


def test_config_set_with_a_bad_value_exits_1_and_names_it(cli_external):
    bad = cli_external.run("config", "set", "workers.stale_after", "lots")
    assert bad.returncode == 1
    assert "workers.stale_after" in bad.stderr and "'lots'" in bad.stderr
    good = cli_external.run("config", "set", "workers.stale_after", "15")
    assert good.returncode == 0, good.stderr
    listed = cli_external.run("config", "list", "--json")
    assert '"value": 15.0' in listed.stdout and '"source": "database"' in listed.stdout


def test_bad_dsn_fails_with_host_and_port(cli_external):
    cli_external.env["PGWARDEN_DSN"] = "postgresql://u:pw123@127.0.0.1:1/x"
    result = cli_external.run("db", "status")
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "pw123" not in result.stderr + result.stdout


def test_kill_9_of_a_worker_then_db_status_works(cli_external):
    cli_external.run("config", "set", "workers.stale_after", "5")
    worker = cli_external.popen("worker", "--name", "doomed")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = cli_external.run("db", "status", "--json")
            if '"live_workers": 1' in status.stdout:
                break
            time.sleep(0.3)
        assert '"live_workers": 1' in status.stdout, status.stdout + status.stderr
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    time.sleep(6)  # past workers.stale_after
    after = cli_external.run("db", "status", "--json")
    assert after.returncode == 0, after.stderr
    assert '"live_workers": 0' in after.stdout and '"doomed"' in after.stdout


def test_worker_stops_cleanly_on_sigterm(cli_external):
    worker = cli_external.popen("worker", "--name", "polite")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if '"live_workers": 1' in cli_external.run("db", "status", "--json").stdout:
            break
        time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    status = cli_external.run("db", "status", "--json")
    assert '"live_workers": 0' in status.stdout
    assert '"stopped_at": null' not in status.stdout
