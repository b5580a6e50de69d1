"""Partition maintenance: pgwarden against pg_partman on the same server, same shapes.

115 parents (10 monthly, 4 quarterly, 101 daily), each with PRIMARY KEY (id, ts)
and an index on (account_id, ts), premake 6 (daily 7), as in the anchor
harness of research/partitioning.md section 6. Three timings per tool:
  first run   parents hold 2 partitions each; the policy asks for premake 6/7
  steady      the same call again with nothing to do
  retention   parents with 21 days / 12 months / 8 quarters of history, retention
              14 days / 6 months / 1 year, expired partitions dropped
A throwaway PostgreSQL 15 cluster of Debian's binaries runs both tools, one
fresh database per measurement, with fsync, synchronous_commit,
full_page_writes and autovacuum off (catalog work, not disk flushes).
pg_partman is used when Debian's postgresql-15-partman is installed; without
it pgwarden runs alone and says so.

    uv run python benchmarks/partitions.py [--repeats 3] [--steady 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.config.settings import Settings
from pgwarden.db import migrate
from pgwarden.db.conninfo import with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import connect
from pgwarden.partitions import run_maintenance, store
from pgwarden.service.app import Services

PG15 = Path("/usr/lib/postgresql/15/bin")
PARTMAN = Path("/usr/share/postgresql/15/extension/pg_partman.control")
SHAPES = [
    ("monthly", 10, 6, "6 months"),
    ("quarterly", 4, 6, "1 year"),
    ("daily", 101, 7, "14 days"),
]
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "autovacuum": "off",
    "max_locks_per_transaction": "1024",
    "timezone": "UTC",
}
SCHEMA = "pgwarden"


def parents() -> list[tuple[str, str, int, str]]:
    out = []
    for interval, n, premake, retention in SHAPES:
        for i in range(n):
            out.append((f"{interval[0]}{i:03d}", interval, premake, retention))
    return out


def create_parents(conn: psycopg.Connection) -> None:
    conn.execute("CREATE SCHEMA bench")
    for name, *_ in parents():
        t = sql.Identifier("bench", name)
        conn.execute(
            sql.SQL(
                "CREATE TABLE {t} (id bigint NOT NULL, account_id int NOT NULL, "
                "ts timestamptz NOT NULL, payload text, PRIMARY KEY (id, ts)) "
                "PARTITION BY RANGE (ts)"
            ).format(t=t)
        )
        conn.execute(sql.SQL("CREATE INDEX ON {t} (account_id, ts)").format(t=t))


def count_partitions(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'bench' AND c.relkind = 'r'"
        ).fetchone()
    return int(row[0]) if row else 0


class Cluster:
    def __init__(self, home: Path) -> None:
        self.server = EmbeddedServer(home, bin_dir=PG15 if PG15.exists() else None)
        self.server.start()
        with psycopg.connect(self.server.conninfo("postgres"), autocommit=True) as conn:
            for k, v in SERVER_SETTINGS.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(k), v))
        self.server.stop()  # max_locks_per_transaction needs a restart
        self.server.start()
        self.n = 0

    def fresh(self) -> str:
        self.n += 1
        name = f"bench_{self.n}"
        with psycopg.connect(self.server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return with_options(self.server.conninfo("postgres"), dbname=name)

    def version(self) -> str:
        with psycopg.connect(self.server.conninfo("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


# -- pgwarden --------------------------------------------------------------------------


class Pgwarden:
    def __init__(self, conninfo: str) -> None:
        migrate.upgrade(conninfo, SCHEMA)
        self.conninfo = conninfo
        self.db = connect(Settings(dsn=conninfo, PGWARDEN_SCHEMA=SCHEMA), name="bench")  # type: ignore[arg-type]
        self.services = Services(db=self.db, config=RuntimeConfig(self.db))
        self.services.config.set("partitions.max_create_periods", 1000)

    def close(self) -> None:
        self.db.close()

    def add(self, name: str, interval: str, premake: int, retention: str | None = None) -> None:
        store.add_policy(
            self.db,
            f"bench.{name}",
            interval=interval,
            premake=premake,
            retention=retention,
            keep_at_least=1,
        )

    def run(self, now: datetime | None = None) -> tuple[float, int, int]:
        t0 = time.perf_counter()
        report = run_maintenance(self.services, now=now)
        ms = (time.perf_counter() - t0) * 1000
        if report.status != "ok":
            raise RuntimeError(f"pgwarden run {report.status}: {report.message}")
        created = report.count("create")
        dropped = report.count("drop")
        return ms, created, dropped


def pgwarden_first(cluster: Cluster) -> tuple[float, int]:
    conninfo = cluster.fresh()
    with psycopg.connect(conninfo) as conn:
        create_parents(conn)
    pw = Pgwarden(conninfo)
    try:
        for name, interval, _, _ in parents():
            pw.add(name, interval, 1)
        pw.run()  # 2 partitions each, like create_parent(premake 1)
        for name, _, premake, _ in parents():
            store.set_policy(pw.db, f"bench.{name}", premake=premake)
        ms, created, _ = pw.run()
        return ms, created
    finally:
        pw.close()


def pgwarden_steady(cluster: Cluster, samples: int) -> list[float]:
    conninfo = cluster.fresh()
    with psycopg.connect(conninfo) as conn:
        create_parents(conn)
    pw = Pgwarden(conninfo)
    try:
        for name, interval, premake, _ in parents():
            pw.add(name, interval, premake)
        pw.run()
        out = []
        for _ in range(samples):
            ms, created, dropped = pw.run()
            assert created == dropped == 0
            out.append(ms)
        return out
    finally:
        pw.close()


HISTORY = {"daily": (21, "days"), "monthly": (12, "months"), "quarterly": (24, "months")}


def pgwarden_retention(cluster: Cluster, concurrent: bool) -> tuple[float, int]:
    conninfo = cluster.fresh()
    with psycopg.connect(conninfo) as conn:
        create_parents(conn)
    pw = Pgwarden(conninfo)
    pw.services.config.set("partitions.detach_concurrently", concurrent)
    try:
        now = datetime.now(UTC)
        past = {
            "daily": now - timedelta(days=21),
            "monthly": now - timedelta(days=366),
            "quarterly": now - timedelta(days=2 * 366),
        }
        for name, interval, premake, _ in parents():
            extra = {"daily": 21, "monthly": 12, "quarterly": 8}[interval]
            pw.add(name, interval, premake + extra)
        # history: one untimed run per interval family, from its past starting point
        for interval, when in past.items():
            for name, iv, _, _ in parents():
                store.set_policy(pw.db, f"bench.{name}", enabled=iv == interval)
            pw.run(now=when)
        for name, _, premake, _ in parents():
            store.set_policy(pw.db, f"bench.{name}", premake=premake, enabled=True)
        pw.run()  # settle premake, untimed
        for name, _, _, retention in parents():
            store.set_policy(pw.db, f"bench.{name}", retention=retention)
        ms, _, dropped = pw.run()
        return ms, dropped
    finally:
        pw.close()


# -- pg_partman ------------------------------------------------------------------------


def partman_setup(conninfo: str, start: dict[str, str] | None = None) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA partman")
        conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
        create_parents(conn)
        for name, interval, _, _ in parents():
            conn.execute(
                "SELECT partman.create_parent(%s, 'ts', 'native', %s, p_premake := 1, "
                "p_start_partition := %s, p_jobmon := false)",
                [f"bench.{name}", interval, (start or {}).get(interval)],
            )
        conn.execute("UPDATE partman.part_config SET infinite_time_partitions = true")


def partman_call(conninfo: str) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("SELECT partman.run_maintenance(p_analyze := false, p_jobmon := false)")
        return (time.perf_counter() - t0) * 1000


def set_premake(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE partman.part_config SET premake = CASE WHEN partition_interval = "
            "'1 day'::interval::text OR partition_interval = '1 day' THEN 7 ELSE 6 END"
        )


def partman_first(cluster: Cluster) -> tuple[float, int]:
    conninfo = cluster.fresh()
    partman_setup(conninfo)
    set_premake(conninfo)
    before = count_partitions(conninfo)
    ms = partman_call(conninfo)
    return ms, count_partitions(conninfo) - before


def partman_steady(cluster: Cluster, samples: int) -> list[float]:
    conninfo = cluster.fresh()
    partman_setup(conninfo)
    set_premake(conninfo)
    partman_call(conninfo)
    return [partman_call(conninfo) for _ in range(samples)]


def partman_retention(cluster: Cluster) -> tuple[float, int]:
    conninfo = cluster.fresh()
    now = datetime.now(UTC)
    start = {
        "daily": (now - timedelta(days=21)).date().isoformat(),
        "monthly": (now - timedelta(days=366)).date().isoformat(),
        "quarterly": (now - timedelta(days=2 * 366)).date().isoformat(),
    }
    partman_setup(conninfo, start)
    set_premake(conninfo)
    partman_call(conninfo)  # settle, untimed
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for interval, _, _, retention in SHAPES:
            conn.execute(
                "UPDATE partman.part_config SET retention = %s, retention_keep_table = false "
                "WHERE parent_table LIKE %s",
                [retention, f"bench.{interval[0]}%"],
            )
    before = count_partitions(conninfo)
    ms = partman_call(conninfo)
    return ms, before - count_partitions(conninfo)


# -- driver ----------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    return {
        "best_ms": round(min(values), 1),
        "median_ms": round(statistics.median(values), 1),
        "runs_ms": [round(v, 1) for v in values],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steady", type=int, default=5, help="steady-state samples")
    args = ap.parse_args()
    has_partman = PARTMAN.exists() and PG15.exists()
    started = time.perf_counter()
    result: dict[str, object] = {"started_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="pgw-bench-") as home:
        cluster = Cluster(Path(home))
        try:
            result["postgres"] = cluster.version()
            result["parents"] = len(parents())
            # The tools alternate within each repeat so that both see the same load.
            tools = ["pgwarden", "pg_partman"] if has_partman else ["pgwarden"]
            if not has_partman:
                result["pg_partman"] = "not installed: pgwarden measured alone"
            runs: dict[str, list[tuple[float, int]]] = {}

            def add(label: str, value: tuple[float, int]) -> None:
                runs.setdefault(label, []).append(value)

            for _ in range(args.repeats):
                add("pgwarden.first_run", pgwarden_first(cluster))
                add("pgwarden.retention_drop", pgwarden_retention(cluster, False))
                add("pgwarden.retention_detach_concurrently", pgwarden_retention(cluster, True))
                if has_partman:
                    add("pg_partman.first_run", partman_first(cluster))
                    add("pg_partman.retention", partman_retention(cluster))
            for v in pgwarden_steady(cluster, args.steady):
                add("pgwarden.steady", (v, 0))
            if has_partman:
                for v in partman_steady(cluster, args.steady):
                    add("pg_partman.steady", (v, 0))
            for tool in tools:
                result[tool] = {
                    label.split(".", 1)[1]: {
                        **summary([m for m, _ in values]),
                        "partitions": [n for _, n in values],
                    }
                    for label, values in runs.items()
                    if label.startswith(tool + ".")
                }
            if has_partman:
                pw, pm = result["pgwarden"], result["pg_partman"]
                assert isinstance(pw, dict) and isinstance(pm, dict)

                def ratio(a: dict, b: dict, key: str) -> float:
                    return round(b[key] / a[key], 2)

                result["speedup (partman / pgwarden)"] = {
                    f"{name} ({key})": ratio(pw[ours], pm[theirs], key)
                    for name, ours, theirs in [
                        ("first_run", "first_run", "first_run"),
                        ("steady", "steady", "steady"),
                        ("retention_drop", "retention_drop", "retention"),
                        (
                            "retention_detach_concurrently",
                            "retention_detach_concurrently",
                            "retention",
                        ),
                    ]
                    for key in ("best_ms", "median_ms")
                }
                first_pw = pw["first_run"]["median_ms"] / statistics.median(
                    pw["first_run"]["partitions"]
                )
                first_pm = pm["first_run"]["median_ms"] / statistics.median(
                    pm["first_run"]["partitions"]
                )
                result["first_run_ms_per_partition"] = {
                    "pgwarden": round(first_pw, 2),
                    "pg_partman": round(first_pm, 2),
                }
        finally:
            cluster.server.stop()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
