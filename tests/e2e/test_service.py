"""The service end to end: `pgwarden run` and `pgwarden worker` as real processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pgwarden.demo import simulator
from tests.e2e.waits import free_port, stop_process, wait_for

pytestmark = pytest.mark.slow
TOKEN = "e2e-token-123"


@pytest.fixture
def service(cli_external, db_conninfo, tmp_path):
    """`pgwarden run` on a free port with the demo models and rules registered."""
    cli = cli_external
    cli.env["PGWARDEN_API_TOKEN"] = TOKEN
    port = free_port()
    cli.env["PGWARDEN_HTTP_PORT"] = str(port)
    setup = cli.run("demo", "--setup-only")
    assert setup.returncode == 0, setup.stderr
    proc = cli.popen("run", "--concurrency", "2", log_name="run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get_ok(f"{base}/readyz"), 60, "readyz")
        yield base, proc, cli
    finally:
        stop_process(proc)


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def post(base: str, batch: simulator.SimBatch) -> httpx.Response:
    return httpx.post(
        f"{base}/api/batches",
        json={
            "source": batch.source,
            "batch_id": batch.batch_id,
            "records": batch.records,
            "metadata": batch.metadata,
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )


def test_http_batches_flow_through_quality_models_and_alerts(service, tmp_path):
    import random
    from datetime import UTC, datetime

    base, proc, _ = service
    rng = random.Random(3)
    now = datetime.now(UTC)
    sent = []
    for i, source in enumerate(simulator.SOURCES * 2):
        batch = simulator.make_batch(rng, source, i, now, size=120)
        r = post(base, batch)
        assert r.status_code == 202, r.text
        sent.append(r.json()["batch_id"])
    # a batch that is mostly broken: many missing timestamps and sentinel values
    bad = simulator.make_batch(rng, "api_calls", 99, now, size=200, defect_rate=0.9)
    assert post(base, bad).status_code == 202
    sent.append(bad.batch_id)

    def all_done():
        rows = [httpx.get(f"{base}/api/batches/{b}", timeout=10).json() for b in sent]
        return rows if all(r["status"] in ("DONE", "REJECTED") for r in rows) else None

    rows = wait_for(all_done, 120, "batches to finish")
    done = [r for r in rows if r["status"] == "DONE"]
    assert len(done) >= 8
    first = done[0]
    assert first["quality"] is not None and first["quality_overall"] > 0
    assert first["models"] is not None and first["models_ok"] >= 3
    assert first["models"]["output_rows"] >= 120  # the spike detector scores every record
    worst = next(r for r in rows if r["batch_id"] == bad.batch_id)
    assert worst["quality_overall"] < first["quality_overall"]

    alerts = httpx.get(f"{base}/api/alerts", timeout=10).json()
    assert any(a.get("source") == "api_calls" for a in alerts), alerts

    models = httpx.get(f"{base}/api/models", timeout=10).json()
    assert len(models) >= 3
    workers = httpx.get(f"{base}/api/workers", timeout=10).json()
    assert any(w["alive"] and w["jobs_done"] > 0 for w in workers)

    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    for name in (
        "pgwarden_batches",
        "pgwarden_records_processed",
        "pgwarden_quality_score",
        "pgwarden_alerts_open",
        "pgwarden_model_cycle_seconds",
        "pgwarden_model_failures",
        "pgwarden_partition_horizon_seconds",
        "pgwarden_partition_default_rows",
        "pgwarden_job_queue_depth",
    ):
        assert name in families, f"{name} missing from /metrics"
    errors = {s.labels["family"]: s.value for s in families["pgwarden_scrape_errors"].samples}
    assert set(errors.values()) == {0.0}, errors
    processed = sum(s.value for s in families["pgwarden_records_processed"].samples)
    assert processed >= 8 * 120

    for page in ("/", "/sources", "/alerts", "/models", "/partitions"):
        r = httpx.get(base + page, timeout=20)
        assert r.status_code == 200, page
        assert "<svg" in r.text and "unavailable:" not in r.text, page

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_sigkill_mid_batch_then_restart_processes_it_exactly_once(cli_external, db_conninfo):
    cli = cli_external
    cli.env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    assert cli.run("demo", "--setup-only").returncode == 0
    assert cli.run("config", "set", "jobs.stalled_after", "3").returncode == 0
    for args in (
        ("models", "add", "slow_probe"),
        (
            "models",
            "version",
            "add",
            "slow_probe",
            "v1",
            "--entrypoint",
            "tests.e2e.slow_model:SlowModel",
            "--role",
            "PRIMARY",
        ),
        ("models", "activate", "slow_probe", "v1"),
    ):
        step = cli.run(*args)
        assert step.returncode == 0, step.stderr + step.stdout

    import random
    from datetime import UTC, datetime

    batch = simulator.make_batch(random.Random(5), "user_events", 1, datetime.now(UTC), size=80)
    ingest = cli.run(
        "batches",
        "ingest",
        "-",
        "--source",
        "user_events",
        "--batch-id",
        batch.batch_id,
        input_text=batch.jsonl().decode(),
    )
    assert ingest.returncode == 0, ingest.stderr

    first = cli.popen("worker", "--name", "victim", log_name="victim.log")
    try:
        wait_for(lambda: _status(db_conninfo, batch.batch_id) == "PROCESSING", 60, "processing")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert _status(db_conninfo, batch.batch_id) == "PROCESSING"

    second = cli.popen("worker", "--name", "rescuer", log_name="rescuer.log")
    try:
        wait_for(lambda: _status(db_conninfo, batch.batch_id) == "DONE", 120, "recovery")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    with psycopg.connect(db_conninfo) as conn:
        conn.execute("SET search_path TO pgwarden")
        attempts = conn.execute(
            "SELECT attempts FROM ingest_batches WHERE batch_id = %s", [batch.batch_id]
        ).fetchone()[0]
        quality_rows = conn.execute(
            "SELECT count(*) FROM quality_batches WHERE batch_id = %s", [batch.batch_id]
        ).fetchone()[0]
        cycles = conn.execute(
            "SELECT count(*) FROM detection_cycles WHERE cycle_id = %s", [f"batch:{batch.batch_id}"]
        ).fetchone()[0]
    assert attempts == 2 and quality_rows == 1 and cycles == 1


def _status(conninfo: str, batch_id: str) -> str | None:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT status FROM pgwarden.ingest_batches WHERE batch_id = %s", [batch_id]
        ).fetchone()
    return row[0] if row else None


def test_two_workers_share_1000_queued_batches_without_loss_or_duplicates(
    cli_external, db_conninfo, tmp_path
):
    import random
    from datetime import UTC, datetime

    cli = cli_external
    assert cli.run("demo", "--setup-only").returncode == 0
    rng = random.Random(11)
    now = datetime.now(UTC)
    lines = []
    for i in range(1000):
        b = simulator.make_batch(rng, simulator.SOURCES[i % 4], i, now, size=8, defect_rate=0.0)
        lines.append(
            json.dumps(
                {
                    "source": b.source,
                    "batch_id": b.batch_id,
                    "records": b.records,
                    "metadata": b.metadata,
                }
            )
        )
    spool = tmp_path / "batches.jsonl"
    spool.write_text("\n".join(lines))
    queued = cli.run("batches", "ingest-many", str(spool))
    assert queued.returncode == 0, queued.stderr
    workers = [cli.popen("worker", "--name", f"w{i}", log_name=f"w{i}.log") for i in (1, 2)]
    try:
        wait_for(
            lambda: _count(db_conninfo, "status IN ('DONE', 'REJECTED')") == 1000,
            400,
            "1000 batches",
            interval=1.0,
        )
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            assert w.wait(timeout=60) == 0
    with psycopg.connect(db_conninfo) as conn:
        conn.execute("SET search_path TO pgwarden")
        assert conn.execute("SELECT count(*), max(attempts) FROM ingest_batches").fetchone() == (
            1000,
            1,
        )
        assert (
            conn.execute("SELECT count(DISTINCT batch_id) FROM quality_batches").fetchone()[0]
            == conn.execute("SELECT count(*) FROM quality_batches").fetchone()[0]
            == 1000
        )
        per_worker = dict(conn.execute("SELECT name, jobs_done FROM workers").fetchall())
    assert per_worker["w1"] > 0 and per_worker["w2"] > 0


def _count(conninfo: str, where: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT count(*) FROM pgwarden.ingest_batches WHERE " + where  # test-only literal
        ).fetchone()[0]


CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
)


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium package is not installed (apt-get install chromium)"
)
def test_dashboard_renders_in_headless_chromium(service, tmp_path):
    import subprocess

    base, _, _ = service
    shot = tmp_path / "dashboard.png"
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1440,1000",
            f"--screenshot={shot}",
            f"{base}/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1440, 1000) and len(data) > 5_000


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium package is not installed (apt-get install chromium)"
)
def test_dashboard_pages_fit_1400_and_390_px_with_even_chart_text(service, tmp_path):
    import random
    from datetime import UTC, datetime

    from tests.e2e.browser import OVERFLOW, TICK_SIZES, Browser

    base, _, _ = service
    rng = random.Random(5)
    sent = []
    for i, source in enumerate(simulator.SOURCES * 2):
        batch = simulator.make_batch(rng, source, i, datetime.now(UTC), size=80, defect_rate=0.5)
        assert post(base, batch).status_code == 202
        sent.append(batch.batch_id)

    def all_done():
        rows = [httpx.get(f"{base}/api/batches/{b}", timeout=10).json() for b in sent]
        return all(r["status"] in ("DONE", "REJECTED") for r in rows) or None

    wait_for(all_done, 120, "batches to finish")
    browser = Browser(tmp_path / "cdp-profile")
    sizes: list[float] = []
    try:
        for width in (1400, 390):
            for page in ("/", "/sources", "/alerts", "/models", "/partitions"):
                browser.open(base + page, width)
                assert browser.evaluate(OVERFLOW) == [], (width, page)
                sizes += [s for s in browser.evaluate(TICK_SIZES) if s > 0]
                if page == "/models":  # the dependency graph is drawn
                    assert browser.evaluate("document.querySelectorAll('svg.dag rect').length") == 3
    finally:
        browser.close()
    # every chart's small text renders at about the same size, on a desktop or a phone
    assert sizes and max(sizes) <= 1.5 * min(sizes), sizes
