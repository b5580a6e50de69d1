"""`pgwarden health ...` end to end: the standalone exporter scraped over HTTP, check, targets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_service import service  # noqa: F401  (the `pgwarden run` fixture)
from tests.e2e.waits import free_port

COMPAT = Path(__file__).parents[1] / "integration" / "health" / "compat_metrics.tsv"


@pytest.mark.slow
def test_health_serve_is_scraped_over_http_with_every_compat_name(cli_external, db_conninfo):
    with psycopg.connect(db_conninfo, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        c.execute("SELECT pg_create_physical_replication_slot('pgw_e2e_slot')")
        c.execute("SELECT count(*) FROM pg_class")
    assert cli_external.run("db", "upgrade").returncode == 0
    port = free_port()
    proc = cli_external.popen("health", "serve", "--port", str(port), "--interval", "2")
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                if r.status_code == 200 and "pg_up" in r.text:
                    text = r.text
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert text, (cli_external.cwd / "proc.log").read_text()
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        wanted = [
            ln.split("\t")[0]
            for ln in COMPAT.read_text().splitlines()
            if ln and not ln.startswith("#")
        ]
        assert [n for n in wanted if n not in names] == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        with psycopg.connect(db_conninfo, autocommit=True) as c:
            c.execute("SELECT pg_drop_replication_slot('pgw_e2e_slot')")
    assert proc.returncode == 0


@pytest.mark.slow
def test_check_exit_codes_targets_and_rules(cli_external, db_conninfo):
    assert cli_external.run("db", "upgrade").returncode == 0
    done = cli_external.run("health", "check", "--json")
    data = json.loads(done.stdout)
    statuses = {i["id"]: i["status"] for i in data["targets"][0]["items"]}
    assert statuses["reachable"] == "pass"
    assert (
        done.returncode
        == data["exit_code"]
        == max({"pass": 0, "warn": 1, "fail": 2}[s] for s in statuses.values())
    )
    bad = cli_external.run("health", "targets", "add", "prod",
                           "host=127.0.0.1 port=1 user=app password=s3cret dbname=app")  # fmt: skip
    assert bad.returncode == 1
    assert "127.0.0.1:1" in bad.stderr and "s3cret" not in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    listed = json.loads(cli_external.run("health", "targets", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["self"]
    rules = cli_external.run("health", "rules", "--prometheus")
    assert rules.returncode == 0 and "alert: PostgresqlDown" in rules.stdout
    with psycopg.connect(db_conninfo, autocommit=True) as c:
        c.execute("CREATE TABLE public.held (id int)")
    locks = cli_external.run("health", "locks", "--json")
    assert locks.returncode == 0 and json.loads(locks.stdout)["waits"] == []
    report = cli_external.run("health", "report", "--format", "html", "--out", "r.html")
    assert report.returncode == 0, report.stderr
    assert (cli_external.cwd / "r.html").read_text().startswith("<!doctype html>")


@pytest.mark.slow
def test_pgwarden_run_collects_on_schedule_and_serves_health(service, tmp_path):  # noqa: F811
    """`pgwarden run`: the periodic task fills the cache; /metrics and the database page show it."""
    from tests.e2e.browser import CHROMIUM, OVERFLOW, Browser
    from tests.e2e.waits import wait_for

    base, _, _ = service

    def health_on_metrics():
        text = httpx.get(f"{base}/metrics", timeout=10).text
        names = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
        return names if "pg_up" in names else None

    names = wait_for(health_on_metrics, 120, "the first health round")  # cron: every minute
    assert names["pg_up"].labels["target"] == "self" and names["pg_up"].value == 1
    assert "pgwarden_alerts_open" in names  # the pipeline's families are served beside
    page = httpx.get(f"{base}/database", timeout=20)
    assert page.status_code == 200 and "Lock waits now" in page.text
    if CHROMIUM is None:
        return
    browser = Browser(tmp_path / "cdp-profile")
    try:
        for width in (1400, 390):
            browser.open(f"{base}/database", width)
            assert browser.evaluate(OVERFLOW) == [], width
    finally:
        browser.close()
