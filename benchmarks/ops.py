"""Operations: pgwarden's backup and restore test against bare pg_dump / pg_restore, and the
throughput of batched retention and masking.

A private embedded PostgreSQL (the wheel's 18) in a temp dir holds a
generated database of about --gb gigabytes (one table of events with a
secondary index, plus pgwarden's schema). In the same run, interleaved for
--rounds rounds:

(the order alternates each round, so neither side always finds the cache
warmed by the other)

- bare backup: `pg_dump -Fc -f FILE`;
- pgwarden backup: `take_backup` (exported snapshot, exact row counts while
  pg_dump reads, `pg_restore --list`, sha256, manifest, checksum re-read);
- bare restore: CREATE DATABASE, `pg_restore -j N`, then count(*) of every
  table (what a hand-written restore test does at the least);
- pgwarden verify: `verify_backup` (checksum, scratch restore with -j N and
  --exit-on-error, every table's rows and the TOC's object counts compared,
  scratch dropped).

Medians are compared: the goal is pgwarden's backup under 10 % over the bare
dump, and its verify no slower than the bare restore plus counts.

Then --rows rows (half older than 90 days) get a masking policy (hash of a
text column) and a retention policy (delete the old half) run with
ops.batch_pause = 0: rows per second and the longest batch (a batch is one
transaction, so that is the longest any row lock was held; goal < 1 s).

    uv run python benchmarks/ops.py                          # 1 GB, 3 rounds, 5 M rows
    uv run python benchmarks/ops.py --gb 0.2 --rounds 1 --rows 500000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.conninfo import with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import connect
from pgwarden.ops.backup import take_backup
from pgwarden.ops.lifecycle import add_policy, run_policies
from pgwarden.ops.verify import verify_backup
from pgwarden.services import Services
from pgwarden.settings import Settings

DB = "opsbench"
ROW_BYTES = 190  # on-disk bytes per generated event row, heap + index, measured


def _exec(conninfo: str, *statements: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as c:
        for s in statements:
            c.execute(s)


def generate(conninfo: str, gb: float) -> dict[str, Any]:
    rows = int(gb * 1e9 / ROW_BYTES)
    _exec(
        conninfo,
        "CREATE TABLE public.events (id bigint PRIMARY KEY, ts timestamptz NOT NULL, "
        "source text NOT NULL, v double precision, payload text)",
    )
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(
                "INSERT INTO public.events SELECT g, now() - g * interval '1 second', "
                "'src' || (g %% 50), random(), md5(g::text) || md5((g * 7)::text) "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                (start + 1, min(rows, start + chunk)),
            )
    _exec(conninfo, "CREATE INDEX events_ts_idx ON public.events (ts)", "VACUUM ANALYZE")
    with psycopg.connect(conninfo) as c:
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {"rows": rows, "database_bytes": size}


def bare_dump(bin_dir: Path, conninfo: str, path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "pg_dump"), "-Fc", f"--file={path}", f"--dbname={conninfo}"], check=True
    )
    return time.perf_counter() - t0


def bare_restore(bin_dir: Path, admin: str, conninfo: str, path: Path, jobs: int) -> float:
    _exec(admin, "DROP DATABASE IF EXISTS bare_restore WITH (FORCE)")
    t0 = time.perf_counter()
    _exec(admin, "CREATE DATABASE bare_restore TEMPLATE template0")
    target = with_options(conninfo, dbname="bare_restore")
    subprocess.run(
        [str(bin_dir / "pg_restore"), f"--dbname={target}", f"--jobs={jobs}", str(path)],
        check=True,
    )
    with psycopg.connect(target) as c:
        tables = c.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            c.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
    took = time.perf_counter() - t0
    _exec(admin, "DROP DATABASE bare_restore WITH (FORCE)")
    return took


def lifecycle(services: Services, conninfo: str, rows: int) -> dict[str, Any]:
    _exec(
        conninfo,
        "CREATE TABLE public.people (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, "
        "email text, ip inet)",
    )
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(
            "INSERT INTO public.people SELECT g, now() - (g %% 180) * interval '1 day', "
            "'person' || g || '@example.com', "
            "('10.' || (g %% 250) || '.' || (g %% 200) || '.7')::inet "
            "FROM generate_series(1, %s::bigint) g",
            (rows,),
        )
        c.execute("VACUUM ANALYZE public.people")
    services.config.set("ops.batch_pause", 0.0)
    out: dict[str, Any] = {"rows": rows}
    for kind, kwargs in (
        ("mask", {"column": "email", "method": "hash", "older_than": "90 days"}),
        ("retention", {"column": "created_at", "older_than": "90 days"}),
    ):
        add_policy(services, kind, "public.people", **kwargs)
        t0 = time.perf_counter()
        [run] = run_policies(services, kind)
        took = time.perf_counter() - t0
        done = run.result["masked" if kind == "mask" else "deleted"]
        out[kind] = {
            "status": run.status.value,
            "rows": done,
            "batches": run.result["batches"],
            "seconds": round(took, 2),
            "rows_per_s": round(done / took),
            "longest_batch_s": run.result["longest_batch_s"],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pgwarden-opsbench-"))
    server = EmbeddedServer(home / "pg")
    server.start()
    try:
        admin = server.conninfo("postgres")
        _exec(admin, f"CREATE DATABASE {DB}")
        conninfo = server.conninfo(DB)
        migrate.upgrade(conninfo, "pgwarden")
        t0 = time.perf_counter()
        data = generate(conninfo, args.gb)
        data["generate_s"] = round(time.perf_counter() - t0, 1)
        settings = Settings(dsn=conninfo, PGWARDEN_SCHEMA="pgwarden")  # type: ignore[arg-type]
        db = connect(settings, name="opsbench")
        services = Services(db=db, config=RuntimeConfig(db))
        backups = home / "backups"
        services.config.set("ops.backup_dir", str(backups))
        services.config.set("ops.backup_jobs", args.jobs)
        bin_dir = server.bin_dir
        times: dict[str, list[float]] = {k: [] for k in ("dump", "backup", "restore", "verify")}
        sizes: dict[str, int] = {}
        for r in range(args.rounds):
            bare = home / f"bare_{r}.dump"

            def pgwarden_backup() -> Any:
                t = time.perf_counter()
                run = take_backup(services)
                times["backup"].append(time.perf_counter() - t)
                sizes["pgwarden"] = int(run.result["bytes"])
                return run

            # alternate who goes first, so neither always reads a cache the other warmed
            if r % 2 == 0:
                times["dump"].append(bare_dump(bin_dir, conninfo, bare))
                run = pgwarden_backup()
            else:
                run = pgwarden_backup()
                times["dump"].append(bare_dump(bin_dir, conninfo, bare))
            sizes["bare"] = bare.stat().st_size

            def pgwarden_verify(backup_id: int = int(run.result["backup_id"])) -> None:
                t = time.perf_counter()
                verify_backup(services, backup_id, jobs=args.jobs)
                times["verify"].append(time.perf_counter() - t)

            if r % 2 == 0:
                times["restore"].append(bare_restore(bin_dir, admin, conninfo, bare, args.jobs))
                pgwarden_verify()
            else:
                pgwarden_verify()
                times["restore"].append(bare_restore(bin_dir, admin, conninfo, bare, args.jobs))
            bare.unlink()
            print(
                f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                flush=True,
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        backup_overhead = med["backup"] / med["dump"] - 1
        verify_ratio = med["verify"] / med["restore"]
        life = lifecycle(services, conninfo, args.rows)
        db.close()
        report = {
            "postgres": str(bin_dir),
            "cpus": os.cpu_count(),
            "data": data,
            "rounds": args.rounds,
            "jobs": args.jobs,
            "median_s": {k: round(v, 2) for k, v in med.items()},
            "all_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
            "archive_bytes": sizes,
            "backup_overhead_pct": round(100 * backup_overhead, 1),
            "verify_over_bare_restore_plus_counts": round(verify_ratio, 3),
            "lifecycle": life,
        }
        print(json.dumps(report, indent=2))
        longest = max(life["mask"]["longest_batch_s"], life["retention"]["longest_batch_s"])
        print(
            f"{'PASS' if backup_overhead < 0.10 else 'FAIL'} backup overhead "
            f"{100 * backup_overhead:.1f} % (goal < 10 %)"
        )
        print(
            f"{'PASS' if verify_ratio <= 1.0 else 'FAIL'} verify / (bare restore + counts) "
            f"= {verify_ratio:.3f} (goal <= 1)"
        )
        print(
            f"{'PASS' if longest < 1.0 else 'FAIL'} longest batch (row locks held) "
            f"{longest:.3f} s (goal < 1 s)"
        )
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
