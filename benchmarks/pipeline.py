"""Benchmark: the whole pipeline end to end, HTTP ingest -> quality -> 5-model DAG
(one shadow) -> persist, with one worker and with two.

    uv run python benchmarks/pipeline.py [--batches 300] [--records 500]

For each worker count it uses a fresh database on a throwaway embedded server
(or PGWARDEN_DSN's server), registers the demo models plus two more (5
primaries, 1 shadow) and the demo rules, starts `pgwarden worker` processes
and the HTTP API, then:
  1. saturation: posts --batches batches of --records records as fast as one
     client can and measures sustained records/s until every batch is done;
  2. lag: posts at half that rate and reports the ingest -> outputs-persisted
     lag (p50, p95) from the batches' own timestamps.
The machine has 2 cores shared by PostgreSQL, the HTTP server, the client and
the workers, so two workers cannot double one worker's throughput here.
"""

from __future__ import annotations

import argparse
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


def start_workers(conninfo: str, count: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env.update(PGWARDEN_DSN=conninfo, PYTHONPATH=str(HERE), PGWARDEN_LOG_LEVEL="WARNING")
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"
    procs = []
    for i in range(count):
        with (log_dir / f"worker{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [exe, "worker", "--name", f"bench-{i}", "--queue", "pipeline"],
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


def make(n: int, records: int, seed: int) -> list[simulator.SimBatch]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [
        simulator.make_batch(rng, simulator.SOURCES[i % 4], i, now, size=records) for i in range(n)
    ]


def run(admin: str, workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    conninfo = setup_database(admin, f"bench_pipeline_{workers}")
    settings = Settings(dsn=conninfo, api_token=TOKEN, max_body_bytes=64 * 1024 * 1024)  # type: ignore[arg-type]
    db = connect(settings, name="bench")
    services = Services(db=db, config=RuntimeConfig(db))
    register(services)
    http = HttpServer(services, "127.0.0.1", _free_port())
    http.start()
    procs = start_workers(conninfo, workers, tmp)
    try:
        # Start-up and first-batch costs (imports, caches) stay out of the timings.
        wait_alive(conninfo, workers)
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
            "batches": len(batches),
            "records": records,
            "post_batches_per_s": len(batches) / post_seconds,
            "records_per_s": throughput,
            "paced_batches_per_s": rate,
            "lag_p50": statistics.median(lags),
            "lag_p95": pct(lags, 0.95),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        http.stop()
        db.close()


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
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pgw-bench-"))
    server = None
    if os.environ.get("PGWARDEN_DSN"):
        admin = os.environ["PGWARDEN_DSN"]
    else:
        server = EmbeddedServer(tmp / "pg")
        server.start()
        admin = server.conninfo("postgres")
    try:
        results = [run(admin, int(w), args, tmp) for w in args.workers.split(",")]
    finally:
        if server is not None:
            server.stop()
    print(
        f"\npipeline benchmark: {args.batches} batches x {args.records} records, "
        "HTTP -> quality -> 5-model DAG + 1 shadow -> persist"
    )
    print(
        f"{'workers':>8} {'records/s':>10} {'posted/s':>9} {'paced b/s':>10} "
        f"{'lag p50':>9} {'lag p95':>9}"
    )
    for r in results:
        print(
            f"{r['workers']:>8} {r['records_per_s']:>10.0f} {r['post_batches_per_s']:>9.1f} "
            f"{r['paced_batches_per_s']:>10.1f} {r['lag_p50'] * 1000:>7.0f}ms "
            f"{r['lag_p95'] * 1000:>7.0f}ms"
        )
    if len(results) == 2:
        ratio = results[1]["records_per_s"] / results[0]["records_per_s"]
        print(f"two workers / one worker: {ratio:.2f}x")


if __name__ == "__main__":
    main()
