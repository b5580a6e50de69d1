"""Benchmark: the whole pipeline end to end, ingest -> quality -> 5-model DAG
(one shadow) -> persist, with one worker and with two, against a bare COPY.

    uv run python benchmarks/pipeline.py [--batches 300] [--records 500] [--workers 1,2]
                                         [--concurrency 1,3] [--coalesce 1]

For each worker count and each worker concurrency (`pgwarden worker -c`: jobs
one worker process runs at once; 3 is its default) it uses a fresh database on
a throwaway embedded server (or PGWARDEN_DSN's server), registers the demo models plus two more (5
primaries, 1 shadow) and the demo rules, then:
  0. settle: the row before is gone (each row's database is dropped when it
     ends: its autovacuum would run during this row) and a CHECKPOINT is taken,
     so that none left by the setup or that row runs during this row's timed
     runs; the bare COPY below starts the same way;
  1. queued: --batches batches are queued (ingested) before any worker starts,
     then `pgwarden worker` processes drain them: records/s from the first
     start to the last finish, and the idle time of each worker between two
     batches while batches were queued (with -c above 1: while it had none in hand), measured
     in the worker
     (PGWARDEN_TRACE_BATCHES): from one batch's closing commit returning to
     the next batch in hand (its claim returning). A batch's closing
     transaction also finishes its job, fetches the next and claims that
     job's batch (service/handoff.py), so a chained batch is in hand the
     moment the previous one's commit returns;
  2. saturation: posts --batches batches over HTTP as fast as one client can
     and measures sustained records/s until every batch is done;
  3. lag: posts at half that rate and reports the ingest -> outputs-persisted
     lag (p50, p95) from the batches' own timestamps.
Then, in this process, without workers: a bare COPY of the same records into
the same server (median of 3, the yardstick of the ratios), and the per-step
breakdown of --breakdown batches run one by one through process_batch after
--batches batches of history (median ms per step, statements and WAL flushes
per batch from pg_stat_statements and pg_stat_io). The queued run's own
per-step medians, traced by the worker, are printed too.
With --coalesce N the workers run with pipeline.coalesce_batches N: the
batches of a source queued behind the one a worker takes share its model
cycle (the queued run's per-step times are then a group's, divided by its
batches; the one-by-one breakdown has no queue and no groups).
The machine has 2 cores shared by PostgreSQL, the HTTP server, the client and
the workers, so two workers cannot double one worker's throughput here.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pgwarden.config.runtime import RuntimeConfig  # noqa: E402
from pgwarden.db import migrate  # noqa: E402
from pgwarden.db.conninfo import with_options  # noqa: E402
from pgwarden.db.embedded import EmbeddedServer  # noqa: E402
from pgwarden.db.pool import connect  # noqa: E402
from pgwarden.demo import simulator  # noqa: E402
from pgwarden.service import WORKER_CONCURRENCY  # noqa: E402
from pgwarden.service.runner import HttpServer  # noqa: E402
from pgwarden.services import Services  # noqa: E402
from pgwarden.settings import Settings  # noqa: E402

TOKEN = "bench-token"


def setup_database(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conninfo = with_options(admin, dbname=name)
    migrate.upgrade(conninfo, "pgwarden")
    return conninfo


def settle(admin: str) -> None:
    """Start each row's timed run with the dirty buffers written now, not by a
    checkpoint during it. (The row before is gone: its database is dropped when
    it ends. Its autovacuum, started by its HTTP and paced phases, ran during the
    next row's queued run and cost that row about 15% of its throughput with
    5,000-record batches.) The row's own setup is not vacuumed or analyzed: its
    tables start as a new deployment's do, and plans must hold as they grow."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def drop_database(admin: str, conninfo: str) -> None:
    name = str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def register(services: Services) -> None:
    from pgwarden import models
    from pgwarden.demo.models import register_demo_models
    from pgwarden.demo.rules import register_demo_rules

    register_demo_models(services)
    register_demo_rules(services)
    for model_id, cls in (("bench.volume", "VolumeModel"), ("bench.summary", "SummaryModel")):
        models.add_model(services, model_id, "benchmark model", who="bench")
        models.add_version(
            services, model_id, "v1", f"pipeline_models:{cls}", {}, role="PRIMARY", who="bench"
        )
        models.activate(services, model_id, "v1", who="bench")
    models.add_dependency(services, "bench.summary", "demo.risk", "risk", who="bench")
    models.add_dependency(services, "bench.summary", "bench.volume", "volume", who="bench")


def start_workers(
    conninfo: str, count: int, log_dir: Path, trace: Path, concurrency: int = 1
) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env.update(
        PGWARDEN_DSN=conninfo,
        PYTHONPATH=str(HERE),
        PGWARDEN_LOG_LEVEL="WARNING",
        PGWARDEN_TRACE_BATCHES=str(trace),
    )
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"
    procs = []
    for i in range(count):
        with (log_dir / f"worker{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [exe, "worker", "--name", f"bench-{i}", "--queue", "pipeline"]
                    + ["--concurrency", str(concurrency)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def wait_alive(conninfo: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            alive = conn.execute(
                "SELECT count(*) FROM pgwarden.workers WHERE stopped_at IS NULL"
            ).fetchone()[0]
            if alive >= count:
                return
            time.sleep(0.2)
    raise SystemExit(f"{count} workers did not start within {timeout:.0f} s")


def post_all(base: str, batches: list[simulator.SimBatch], rate: float | None) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        for i, b in enumerate(batches):
            if rate:
                wait = started + i / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            r = client.post(
                f"{base}/api/batches?source={b.source}&batch_id={b.batch_id}"
                f"&expected_records={len(b.records)}&source_system={b.source}"
                "&pipeline_stage=ingestion",
                content=b.jsonl(),
                headers=headers,
            )
            r.raise_for_status()
    return time.monotonic() - started


def wait_done(conninfo: str, ids: list[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            left = conn.execute(
                "SELECT count(*) FROM pgwarden.ingest_batches WHERE batch_id = ANY(%s) "
                "AND status NOT IN ('DONE', 'REJECTED')",
                [ids],
            ).fetchone()[0]
            if left == 0:
                return
            time.sleep(0.2)
    raise SystemExit(f"batches not done within {timeout:.0f} s")


def timings(conninfo: str, ids: list[str]) -> tuple[float, int, list[float]]:
    with psycopg.connect(conninfo) as conn:
        first, last, records = conn.execute(
            "SELECT min(received_at), max(processed_at), sum(records) "
            "FROM pgwarden.ingest_batches WHERE batch_id = ANY(%s)",
            [ids],
        ).fetchone()
        lags = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM processed_at - received_at)::float8 "
                "FROM pgwarden.ingest_batches WHERE batch_id = ANY(%s)",
                [ids],
            ).fetchall()
        ]
        rejected = conn.execute(
            "SELECT count(*) FROM pgwarden.ingest_batches WHERE batch_id = ANY(%s) "
            "AND status = 'REJECTED'",
            [ids],
        ).fetchone()[0]
    if rejected:
        print(f"  note: {rejected} batches rejected by quality (they skip the models)")
    return (last - first).total_seconds(), int(records), lags


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queue_direct(services: Services, batches: list[simulator.SimBatch]) -> None:
    """Ingest without HTTP (what `pgwarden batches ingest-many` does)."""
    from pgwarden.service.ingest import ingest

    for b in batches:
        ingest(services, b.source, b.jsonl(), metadata=b.metadata, batch_id=b.batch_id)


def idle_gaps(trace: Path, ids: list[str]) -> list[float]:
    """Seconds each worker had no batch in hand between two of its batches, measured in
    the worker (PGWARDEN_TRACE_BATCHES): from one batch's closing commit returning to the
    next batch's claim returning, for the given (queued) batches. A worker running
    jobs at once (-c 2) is idle only while none of them has a batch in hand."""
    wanted = set(ids)
    runs: dict[str, list[tuple[float, float]]] = {}
    for line in trace.read_text().splitlines():
        pid, in_hand, done, _, batch_id = line.split(" ", 4)
        if batch_id in wanted:
            runs.setdefault(pid, []).append((float(in_hand), float(done)))
    gaps = []
    for spans in runs.values():
        spans.sort()
        busy_until = spans[0][1]
        for start, end in spans[1:]:
            if start > busy_until:
                gaps.append(start - busy_until)
            busy_until = max(busy_until, end)
    return gaps


def worker_stages(trace: Path, ids: list[str]) -> dict[str, float]:
    """Median ms per step of the given batches as the workers ran them (the trace's
    stages: the claim is 0 for a batch claimed by the previous one's closing commit;
    a group's line, --coalesce, counts as that many batches' mean)."""
    wanted = set(ids)
    stages: dict[str, list[float]] = {}
    totals = []
    for line in trace.read_text().splitlines():
        _, in_hand, done, steps, batch_id = line.split(" ", 4)
        if batch_id not in wanted or steps == "-":
            continue
        parts = dict(part.split("=") for part in steps.split(","))
        n = float(parts.pop("batches", 1))  # a group's line: its batches' times together
        for name, ms in parts.items():
            stages.setdefault(name, []).append(float(ms) / n)
        totals.append((float(done) - float(in_hand)) * 1000 / n)
    out = {name: statistics.median(v) for name, v in stages.items()}
    if totals:
        out["total"] = statistics.median(totals)
    return out


def bare_copy(conninfo: str, batches: list[simulator.SimBatch], repeats: int = 3) -> float:
    """Records/s of one COPY of the same records (JSON lines into a jsonb column), median."""
    data = b"\n".join(b.jsonl().replace(b"\\", b"\\\\") for b in batches) + b"\n"
    records = sum(len(b.records) for b in batches)
    times = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_copy")
        conn.execute("CREATE TABLE bench_bare_copy (record jsonb NOT NULL)")
        for _ in range(repeats):
            conn.execute("TRUNCATE bench_bare_copy")
            t0 = time.perf_counter()
            with conn.cursor().copy("COPY bench_bare_copy (record) FROM STDIN") as copy:
                copy.write(data)
            times.append(time.perf_counter() - t0)
        conn.execute("DROP TABLE bench_bare_copy")
    return records / statistics.median(times)


def server_counters(conn: psycopg.Connection) -> tuple[float, float, float]:
    """(statements run in this database, WAL fsyncs by client backends, ms the server
    spent executing them) so far."""
    calls, exec_ms = conn.execute(
        "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0) "
        "FROM pg_stat_statements s "
        "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
    ).fetchone()
    try:
        fsyncs = conn.execute(  # PostgreSQL 16+
            "SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io "
            "WHERE object = 'wal' AND backend_type = 'client backend'"
        ).fetchone()[0]
    except psycopg.Error:
        fsyncs = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]  # PostgreSQL 15
    return float(calls), float(fsyncs), float(exec_ms)


def breakdown(
    services: Services, conninfo: str, n: int, records: int, history: int
) -> dict[str, float]:
    """Median ms per step of n batches run one by one here; statements and flushes per batch.

    `history` batches go first: caches and prepared statements as a running worker
    has them, and a history as long as the queued run's (the after-batch step reads
    the source's history, so on a near-empty database it looked cheaper than it is).
    """
    from pgwarden.service.pipeline import process_batch
    from pgwarden.service.worker import tune_gc

    tune_gc()  # the garbage collector as a worker process has it
    batches = make(n + history, records, seed=7)
    queue_direct(services, batches)
    for b in batches[:history]:
        process_batch(services, b.batch_id)
    stages: dict[str, list[float]] = {}
    totals = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            before = server_counters(conn)
        except psycopg.Error:
            before = None
        for b in batches[history:]:
            t0 = time.perf_counter()
            outcome = process_batch(services, b.batch_id)
            totals.append((time.perf_counter() - t0) * 1000)
            for name, ms in outcome.stages.items():
                stages.setdefault(name, []).append(ms)
        after = server_counters(conn) if before is not None else None
    out = {name: statistics.median(v) for name, v in stages.items()}
    out["total"] = statistics.median(totals)
    if before is not None and after is not None:
        out["statements"] = (after[0] - before[0]) / n
        out["wal_flushes"] = (after[1] - before[1]) / n
        out["server_ms"] = (after[2] - before[2]) / n
    return out


def make(n: int, records: int, seed: int) -> list[simulator.SimBatch]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [
        simulator.make_batch(rng, simulator.SOURCES[i % 4], i, now, size=records) for i in range(n)
    ]


def run(
    admin: str, workers: int, concurrency: int, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    conninfo = setup_database(admin, f"bench_pipeline_{workers}_{concurrency}")
    settings = Settings(dsn=conninfo, api_token=TOKEN, max_body_bytes=64 * 1024 * 1024)  # type: ignore[arg-type]
    db = connect(settings, name="bench")
    services = Services(db=db, config=RuntimeConfig(db))
    register(services)
    services.config.set("pipeline.coalesce_batches", args.coalesce, who="bench")
    http = HttpServer(services, "127.0.0.1", _free_port())
    http.start()
    # Queued before any worker starts (issue 16): start-up, imports and first
    # batches stay out of the span, which runs from the first claim on.
    queued = make(args.batches, args.records, seed=500 + workers)
    queue_direct(services, queued)
    settle(admin)
    trace = tmp / f"batches-{workers}w{concurrency}c.trace"
    procs = start_workers(conninfo, workers, tmp, trace, concurrency)
    try:
        wait_alive(conninfo, workers)
        queued_ids = [b.batch_id for b in queued]
        wait_done(conninfo, queued_ids)
        q_span, q_records = queued_timings(
            conninfo, queued_ids[4 * workers :], skipped=queued_ids[: 4 * workers]
        )
        gaps = idle_gaps(trace, queued_ids[4 * workers :])
        steps = worker_stages(trace, queued_ids[4 * workers :])
        warm = make(4 * workers, args.records, seed=1000 + workers)
        post_all(http.url, warm, rate=None)
        wait_done(conninfo, [b.batch_id for b in warm])
        batches = make(args.batches, args.records, seed=workers)
        post_seconds = post_all(http.url, batches, rate=None)
        wait_done(conninfo, [b.batch_id for b in batches])
        span, records, _ = timings(conninfo, [b.batch_id for b in batches])
        throughput = records / span
        rate = max(0.5, 0.5 * throughput / args.records)
        paced = make(max(20, args.batches // 3), args.records, seed=100 + workers)
        post_all(http.url, paced, rate=rate)
        wait_done(conninfo, [b.batch_id for b in paced])
        _, _, lags = timings(conninfo, [b.batch_id for b in paced])
        return {
            "workers": workers,
            "concurrency": concurrency,
            "batches": len(batches),
            "records": records,
            "queued_records_per_s": q_records / q_span,
            "idle_p50": statistics.median(gaps) if gaps else 0.0,
            "idle_p95": pct(gaps, 0.95) if gaps else 0.0,
            "idle_p99": pct(gaps, 0.99) if gaps else 0.0,
            "idle_max": max(gaps) if gaps else 0.0,
            "idle_share": sum(gaps) / (q_span * workers) if gaps else 0.0,
            "post_batches_per_s": len(batches) / post_seconds,
            "records_per_s": throughput,
            "paced_batches_per_s": rate,
            "lag_p50": statistics.median(lags),
            "lag_p95": pct(lags, 0.95),
            "stages": steps,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        http.stop()
        db.close()
        drop_database(admin, conninfo)


def queued_timings(
    conninfo: str, ids: list[str], skipped: list[str] | None = None
) -> tuple[float, int]:
    """(seconds from the first claim to the last finish, records) of the given batches,
    leaving out those processed in a group with a `skipped` one (the worker's first
    batches: their imports and warm-up)."""
    with psycopg.connect(conninfo) as conn:
        first, last, records = conn.execute(
            "SELECT min(started_at), max(processed_at), sum(records) "
            "FROM pgwarden.ingest_batches WHERE batch_id = ANY(%s)"
            " AND (coalesced_into IS NULL OR coalesced_into <> ALL(%s))",
            [ids, skipped or []],
        ).fetchone()
    return (last - first).total_seconds(), int(records)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--concurrency",
        default=f"1,{WORKER_CONCURRENCY}",
        help=f"pgwarden worker -c values, each a row ({WORKER_CONCURRENCY}: default)",
    )
    parser.add_argument("--breakdown", type=int, default=40, help="batches in the breakdown")
    parser.add_argument(
        "--coalesce",
        type=int,
        default=1,
        help="pipeline.coalesce_batches for the workers (1, the default: no groups)",
    )
    args = parser.parse_args()
    # the in-process breakdown raises alerts; their log channel would flood the table
    logging.getLogger("pgwarden").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="pgw-bench-"))
    server = None
    if os.environ.get("PGWARDEN_DSN"):
        admin = os.environ["PGWARDEN_DSN"]
    else:
        server = EmbeddedServer(tmp / "pg")
        server.start()
        admin = server.conninfo("postgres")
    try:
        results = [
            run(admin, int(w), int(c), args, tmp)
            for w in args.workers.split(",")
            for c in args.concurrency.split(",")
        ]
        conninfo = setup_database(admin, "bench_pipeline_steps")
        settings = Settings(dsn=conninfo)  # type: ignore[arg-type]
        db = connect(settings, name="bench")
        try:
            services = Services(db=db, config=RuntimeConfig(db))
            register(services)
            settle(admin)
            copy_rate = bare_copy(conninfo, make(args.batches, args.records, seed=3))
            steps = breakdown(
                services, conninfo, args.breakdown, args.records, max(4, args.batches)
            )
        finally:
            db.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # the cluster and traces: about 1 GB a run
    print(
        f"\npipeline benchmark: {args.batches} batches x {args.records} records, "
        "HTTP -> quality -> 5-model DAG + 1 shadow -> persist, "
        f"pipeline.coalesce_batches {args.coalesce}"
    )
    print(f"bare COPY of the same records (jsonb, one COPY, median of 3): {copy_rate:,.0f} rec/s")
    print(
        f"{'workers':>8} {'-c':>3} {'queued r/s':>10} {'/ COPY':>7} {'idle p50':>9} "
        f"{'idle p95':>9} {'idle p99':>9} {'idle max':>9} "
        f"{'idle %':>7} {'HTTP r/s':>9} {'posted/s':>9} {'paced b/s':>10} {'lag p50':>9} "
        f"{'lag p95':>9}"
    )
    for r in results:
        print(
            f"{r['workers']:>8} {r['concurrency']:>3} {r['queued_records_per_s']:>10.0f} "
            f"{r['queued_records_per_s'] / copy_rate:>7.4f} {r['idle_p50'] * 1000:>7.2f}ms "
            f"{r['idle_p95'] * 1000:>7.2f}ms {r['idle_p99'] * 1000:>7.2f}ms "
            f"{r['idle_max'] * 1000:>7.2f}ms {r['idle_share'] * 100:>6.1f}% "
            f"{r['records_per_s']:>9.0f} {r['post_batches_per_s']:>9.1f} "
            f"{r['paced_batches_per_s']:>10.1f} {r['lag_p50'] * 1000:>7.0f}ms "
            f"{r['lag_p95'] * 1000:>7.0f}ms"
        )
    base = results[0]
    for r in results[1:]:
        ratios = ", ".join(
            f"{label} {r[key] / base[key]:.2f}x"
            for key, label in (("queued_records_per_s", "queued"), ("records_per_s", "HTTP"))
        )
        print(
            f"{r['workers']} worker(s) -c {r['concurrency']} / "
            f"{base['workers']} worker(s) -c {base['concurrency']}: {ratios}"
        )
    order = ("claim", "parse", "quality", "alerts", "models", "finish", "total")
    for r in results:
        queued = r["stages"]
        print(
            f"\none {args.records}-record batch in the queued run, {r['workers']} worker(s) "
            f"-c {r['concurrency']}, "
            "as the worker traced it (median, ms; claim 0: claimed by the previous batch's "
            "closing commit; total: claim returned to closing commit returned):"
        )
        print("  " + "  ".join(f"{k} {queued[k]:.2f}" for k in order if k in queued))
    print(
        f"\none {args.records}-record batch, step by step here after {max(4, args.batches)} "
        f"batches of history (median of {args.breakdown}, ms):"
    )
    print("  " + "  ".join(f"{k} {steps[k]:.2f}" for k in order if k in steps))
    if "statements" in steps:
        print(
            f"  statements per batch {steps['statements']:.1f} (BEGIN/COMMIT included), "
            f"WAL flushes waited for per batch {steps['wal_flushes']:.2f}, "
            f"server execution {steps['server_ms']:.2f} ms per batch "
            f"(alone it caps the pipeline at {args.records / steps['server_ms'] * 1000:,.0f} rec/s)"
        )
    print(
        "  (run one by one without a worker: the closing commit waits for the WAL flush here,"
        " which a worker with a next job in hand does not; see pipeline.flush_wait)"
    )


if __name__ == "__main__":
    main()
