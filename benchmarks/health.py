"""Scrape cost on a 2,000-partition catalog: pgwarden's /metrics against postgres_exporter.

One PostgreSQL (Debian's 15 when installed, else the embedded 18) holds 20
range-partitioned parents x 100 partitions (primary key + one secondary
index each, autovacuum off, dead tuples in about half of them), 300
distinct pg_stat_statements entries, one backend waiting on a row lock and
one inactive replication slot. Both exporters read it in the same run as a
`pg_monitor` role, both listening on 127.0.0.1 only:

- Debian's `prometheus-postgres-exporter` with its default collectors plus a
  query file reproducing the current upstream table, index and statement
  collectors (stat_user_tables with pg_table_size / pg_indexes_size on every
  row, statio_user_tables, statio_user_indexes, the top 100 statements);
- pgwarden's health exporter (`pgwarden health serve`'s HTTP server), with a
  collection round starting 1 s after the previous one ends in a background
  thread, so most scrapes run while a round is in flight (the default
  `health serve --interval` is 15 s; this is the harder case).

One warm-up scrape each, then SCRAPES timed scrapes (full body read),
nearest-rank percentiles. Prints JSON with p50/p95/max, series, bytes, both
versions, the compatibility names found and whether the lock wait is
visible, then PASS/FAIL lines for the goals of issue 12.

    uv run python benchmarks/health.py                 # 2,000 partitions, 20 scrapes
    uv run python benchmarks/health.py --parents 5 --partitions 20 --scrapes 5   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

import pgwarden
from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.conninfo import with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import connect
from pgwarden.health import runtime_for
from pgwarden.health.exporter import serve_http
from pgwarden.services import Services
from pgwarden.settings import Settings

PG15 = Path("/usr/lib/postgresql/15/bin")
EXPORTER = "prometheus-postgres-exporter"
COMPAT = Path(__file__).parents[1] / "tests" / "integration" / "health" / "compat_metrics.tsv"
DB = "bench"

# Equivalent of upstream postgres_exporter 0.20's table, index and statement collectors
# (names, labels, the size functions per row, the top-100 statement limit).
QUERIES_YAML = """
pg_stat_user_tables:
  query: |
    SELECT current_database() AS datname, schemaname, relname, seq_scan, seq_tup_read,
           coalesce(idx_scan, 0) AS idx_scan, coalesce(idx_tup_fetch, 0) AS idx_tup_fetch,
           n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, n_live_tup, n_dead_tup,
           n_mod_since_analyze,
           coalesce(extract(epoch FROM last_vacuum), 0) AS last_vacuum,
           coalesce(extract(epoch FROM last_autovacuum), 0) AS last_autovacuum,
           coalesce(extract(epoch FROM last_analyze), 0) AS last_analyze,
           coalesce(extract(epoch FROM last_autoanalyze), 0) AS last_autoanalyze,
           vacuum_count, autovacuum_count, analyze_count, autoanalyze_count,
           pg_indexes_size(relid) AS index_size_bytes, pg_table_size(relid) AS table_size_bytes
    FROM pg_stat_user_tables
  metrics:
{table_metrics}
pg_statio_user_tables:
  query: |
    SELECT current_database() AS datname, schemaname, relname,
           coalesce(heap_blks_read, 0) AS heap_blocks_read,
           coalesce(heap_blks_hit, 0) AS heap_blocks_hit,
           coalesce(idx_blks_read, 0) AS idx_blocks_read,
           coalesce(idx_blks_hit, 0) AS idx_blocks_hit,
           coalesce(toast_blks_read, 0) AS toast_blocks_read,
           coalesce(toast_blks_hit, 0) AS toast_blocks_hit,
           coalesce(tidx_blks_read, 0) AS tidx_blocks_read,
           coalesce(tidx_blks_hit, 0) AS tidx_blocks_hit
    FROM pg_statio_user_tables
  metrics:
{statio_metrics}
pg_statio_user_indexes:
  query: |
    SELECT schemaname, relname, indexrelname,
           coalesce(idx_blks_read, 0) AS idx_blks_read_total,
           coalesce(idx_blks_hit, 0) AS idx_blks_hit_total
    FROM pg_statio_user_indexes
  metrics:
    - schemaname: {{usage: LABEL, description: schema}}
    - relname: {{usage: LABEL, description: table}}
    - indexrelname: {{usage: LABEL, description: index}}
    - idx_blks_read_total: {{usage: COUNTER, description: index blocks read}}
    - idx_blks_hit_total: {{usage: COUNTER, description: index blocks hit}}
pg_stat_statements:
  query: |
    SELECT t2.rolname AS user, t3.datname, queryid::text AS queryid, calls AS calls_total,
           total_exec_time / 1000.0 AS seconds_total, rows AS rows_total,
           blk_read_time / 1000.0 AS block_read_seconds_total,
           blk_write_time / 1000.0 AS block_write_seconds_total
    FROM pg_stat_statements t1
    JOIN pg_roles t2 ON t1.userid = t2.oid
    JOIN pg_database t3 ON t1.dbid = t3.oid
    WHERE t3.datname = current_database()
      AND total_exec_time > (SELECT percentile_cont(0.1) WITHIN GROUP (ORDER BY total_exec_time)
                             FROM pg_stat_statements)
    ORDER BY seconds_total DESC
    LIMIT 100
  metrics:
    - user: {{usage: LABEL, description: role}}
    - datname: {{usage: LABEL, description: database}}
    - queryid: {{usage: LABEL, description: query id}}
    - calls_total: {{usage: COUNTER, description: calls}}
    - seconds_total: {{usage: COUNTER, description: execution time}}
    - rows_total: {{usage: COUNTER, description: rows}}
    - block_read_seconds_total: {{usage: COUNTER, description: block read time}}
    - block_write_seconds_total: {{usage: COUNTER, description: block write time}}
"""
TABLE_COUNTERS = [
    "seq_scan",
    "seq_tup_read",
    "idx_scan",
    "idx_tup_fetch",
    "n_tup_ins",
    "n_tup_upd",
    "n_tup_del",
    "n_tup_hot_upd",
    "vacuum_count",
    "autovacuum_count",
    "analyze_count",
    "autoanalyze_count",
]
TABLE_GAUGES = [
    "n_live_tup",
    "n_dead_tup",
    "n_mod_since_analyze",
    "last_vacuum",
    "last_autovacuum",
    "last_analyze",
    "last_autoanalyze",
    "index_size_bytes",
    "table_size_bytes",
]
STATIO = [f"{p}_blocks_{io}" for p in ("heap", "idx", "toast", "tidx") for io in ("read", "hit")]


def _metric_lines(counters: list[str], gauges: list[str]) -> str:
    lines = [f"    - {label}: {{usage: LABEL, description: {label}}}"
             for label in ("datname", "schemaname", "relname")]  # fmt: skip
    lines += [f"    - {c}: {{usage: COUNTER, description: {c}}}" for c in counters]
    lines += [f"    - {g}: {{usage: GAUGE, description: {g}}}" for g in gauges]
    return "\n".join(lines)


def queries_yaml() -> str:
    return QUERIES_YAML.format(
        table_metrics=_metric_lines(TABLE_COUNTERS, TABLE_GAUGES),
        statio_metrics=_metric_lines(STATIO, []),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def build_catalog(conninfo: str, parents: int, partitions: int, statements: int) -> dict:
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute("CREATE SCHEMA bench")
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for p in range(parents):
            c.execute(
                f"CREATE TABLE bench.events_{p} (id int NOT NULL, at int NOT NULL, v text, "
                f"PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
            )
            c.execute(f"CREATE INDEX events_{p}_v ON bench.events_{p} (v)")
            for i in range(partitions):
                c.execute(
                    f"CREATE TABLE bench.events_{p}_{i} PARTITION OF bench.events_{p} "
                    f"FOR VALUES FROM ({i * 100}) TO ({i * 100 + 100}) "
                    "WITH (autovacuum_enabled = false)"
                )
            c.execute(  # numbers from argparse only
                f"INSERT INTO bench.events_{p} SELECT g, (g % {partitions}) * 100 + g % 100, "  # noqa: S608
                f"md5(g::text) FROM generate_series(1, {partitions * 50}) g"
            )
            # dead tuples in about half of the partitions
            c.execute(f"DELETE FROM bench.events_{p} WHERE (at / 100) % 2 = 0 AND id % 5 = 0")  # noqa: S608
        c.execute("SELECT pg_stat_statements_reset()")
        for s in range(statements):
            p, i = s % parents, (s // parents) % partitions
            c.execute(f"SELECT count(*) FROM bench.events_{p}_{i} WHERE v > '{s % 7}'")  # noqa: S608
        c.execute("SELECT pg_stat_force_next_flush()")
        c.execute("SELECT pg_create_physical_replication_slot('bench_idle_slot')")
        c.execute("CREATE ROLE exporter LOGIN PASSWORD 'bench-only' IN ROLE pg_monitor")
        c.execute("GRANT USAGE ON SCHEMA bench TO exporter")
        row = c.execute(
            "SELECT (SELECT count(*) FROM pg_stat_user_tables), "
            "(SELECT count(*) FROM pg_stat_user_indexes), "
            "(SELECT sum(n_dead_tup) FROM pg_stat_user_tables), "
            "(SELECT count(*) FROM pg_stat_statements), version()"
        ).fetchone()
    assert row is not None
    return {"user_tables": row[0], "user_indexes": row[1], "dead_tuples": int(row[2] or 0),
            "pg_stat_statements_entries": row[3], "server_version": row[4]}  # fmt: skip


def scrape(url: str, n: int, gap: float = 0.1) -> dict[str, Any]:
    with httpx.Client(timeout=60) as client:
        client.get(url).raise_for_status()  # warm-up
        times, sizes, text = [], [], ""
        for _ in range(n):
            time.sleep(gap)  # spread the scrapes so collection rounds overlap them
            started = time.perf_counter()
            r = client.get(url)
            body = r.content
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(body))
            r.raise_for_status()
            text = body.decode()
    names = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
    by_family: dict[str, int] = {}
    for f in text_string_to_metric_families(text):
        by_family[f.name] = len(f.samples)
    series = sum(1 for ln in text.splitlines() if ln and not ln.startswith("#"))
    wanted = [ln.split("\t")[0] for ln in COMPAT.read_text().splitlines()
              if ln and not ln.startswith("#")]  # fmt: skip
    waits = [s for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "pgwarden_db_lock_waits"]  # fmt: skip
    return {
        "scrapes": n,
        "scrape_ms": {"p50": round(pct(times, 50), 1), "p95": round(pct(times, 95), 1),
                      "max": round(max(times), 1), "min": round(min(times), 1)},
        "series": series,
        "bytes_per_scrape": int(sum(sizes) / len(sizes)),
        "compat_names": f"{sum(1 for w in wanted if w in names)}/{len(wanted)}",
        "compat_missing": [w for w in wanted if w not in names],
        "lock_wait_visible": bool(waits and waits[0].value >= 1),
        "top_families": dict(sorted(by_family.items(), key=lambda kv: -kv[1])[:8]),
    }  # fmt: skip


def run_exporter(dsn: str, workdir: Path, n: int) -> dict[str, Any]:
    exe = shutil.which(EXPORTER)
    if exe is None:
        return {"skipped": f"{EXPORTER} is not installed (apt-get install {EXPORTER})"}
    qfile = workdir / "queries.yaml"
    qfile.write_text(queries_yaml(), encoding="utf-8")
    port = _free_port()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stderr
    env = {**os.environ, "DATA_SOURCE_NAME": dsn}
    log = (workdir / "exporter.log").open("w")
    proc = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}", f"--extend.query-path={qfile}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        result = scrape(url, n)
        cpu = _cpu_seconds(proc.pid)
        if result["compat_missing"] and len(result["compat_missing"]) > 40:
            result["log_tail"] = (workdir / "exporter.log").read_text()[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    result["version"] = version.splitlines()[0] if version else "?"
    result["exporter_cpu_seconds"] = cpu
    return result


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def run_pgwarden(conninfo: str, n: int, interval: float) -> dict[str, Any]:
    settings = Settings(dsn=conninfo, PGWARDEN_SCHEMA="pgwarden")  # type: ignore[arg-type]
    db = connect(settings, name="bench-health")
    services = Services(db=db, config=RuntimeConfig(db))
    rt = runtime_for(services)
    rounds: list[float] = []
    started = time.perf_counter()
    rt.collect(force=True, alert=False)
    rounds.append(time.perf_counter() - started)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            t = time.perf_counter()
            rt.collect(alert=False)
            rounds.append(time.perf_counter() - t)

    bg = threading.Thread(target=loop, daemon=True)
    bg.start()
    server, thread = serve_http(rt, "127.0.0.1", 0)
    try:
        result = scrape(f"http://127.0.0.1:{server.server_port}/metrics", n)
        # the round that also runs the slow collectors (sizes) is the expensive one
        t = time.perf_counter()
        rt.collect(force=True, alert=False)
        full_round = time.perf_counter() - t
    finally:
        stop.set()
        bg.join(timeout=30)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        db.close()
    result["version"] = f"pgwarden {pgwarden.__version__}"
    result["collection_round_ms"] = {
        "fast_rounds_p50": round(pct(rounds, 50) * 1000, 1) if rounds else None,
        "rounds_during_scrapes": len(rounds) - 1,
        "full_round_with_sizes": round(full_round * 1000, 1),
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parents", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--statements", type=int, default=300)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument(
        "--interval", type=float, default=1.0, help="seconds between pgwarden collection rounds"
    )
    ap.add_argument("--pg-bin", default=str(PG15) if PG15.exists() else None)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pgwarden-bench-health-"))
    server = EmbeddedServer(home, bin_dir=Path(args.pg_bin) if args.pg_bin else None)
    server.start()
    holder = waiter = None
    try:
        admin = server.conninfo("postgres")
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {DB}")
        conninfo = with_options(admin, dbname=DB)
        migrate.upgrade(conninfo, "pgwarden")
        catalog = build_catalog(conninfo, args.parents, args.partitions, args.statements)
        # one backend waits on a row lock during every scrape
        holder = psycopg.connect(conninfo)
        holder.execute("UPDATE bench.events_0 SET v = 'held' WHERE id = 1")
        waiter = psycopg.connect(conninfo, autocommit=True)
        threading.Thread(
            target=lambda: _quiet(waiter, "UPDATE bench.events_0 SET v = 'w' WHERE id = 1"),
            daemon=True,
        ).start()
        time.sleep(0.5)
        sock = str(server.status().socket_dir)
        exporter_dsn = f"postgresql://exporter:bench-only@/{DB}?host={sock}&sslmode=disable"
        load_before = os.getloadavg()
        exporter = run_exporter(exporter_dsn, home, args.scrapes)
        ours = run_pgwarden(conninfo, args.scrapes, args.interval)
        out = {
            "params": vars(args),
            "host_cpus": os.cpu_count(),
            "host_loadavg_before": [round(x, 2) for x in load_before],
            "catalog": catalog,
            "pgwarden": ours,
            "postgres_exporter": exporter,
        }
        print(json.dumps(out, indent=1))
        _goals(ours, exporter)
    finally:
        for c in (waiter, holder):
            if c is not None:
                c.cancel_safe() if hasattr(c, "cancel_safe") else c.cancel()
                c.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def _quiet(conn: psycopg.Connection, statement: str) -> None:
    with contextlib.suppress(psycopg.Error):  # cancelled at the end of the run
        conn.execute(statement)


def _goals(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    def line(ok: bool, text: str) -> None:
        print(("PASS " if ok else "FAIL ") + text)

    if "scrape_ms" in theirs:
        ratio = ours["scrape_ms"]["p95"] / theirs["scrape_ms"]["p95"]
        line(ratio <= 0.2, f"scrape p95 {ours['scrape_ms']['p95']} ms = {ratio:.3f} x "
             f"postgres_exporter's {theirs['scrape_ms']['p95']} ms (goal <= 0.2)")  # fmt: skip
    line(ours["series"] < 5000, f"{ours['series']} series per scrape (goal < 5,000)")
    line(ours["bytes_per_scrape"] < 1_000_000,
         f"{ours['bytes_per_scrape']} bytes per scrape (goal < 1 MB)")  # fmt: skip
    line(not ours["compat_missing"], f"compatibility names {ours['compat_names']}")
    line(ours["lock_wait_visible"], "the lock wait is visible (pgwarden_db_lock_waits >= 1)")


if __name__ == "__main__":
    main()
