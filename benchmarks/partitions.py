"""Partition maintenance: pgwarden against pg_partman on the same server, same shapes.

115 parents (10 monthly, 4 quarterly, 101 daily), each with PRIMARY KEY (id, ts)
and an index on (account_id, ts), premake 6 (daily 7), as in the anchor
harness of research/partitioning.md section 6. Three kinds of run per tool:
  first run   parents hold 2 partitions each; the policy asks for premake 6/7
  steady      the same call again with nothing to do
  retention   parents with 21 days / 12 months / 8 quarters of history, retention
              14 days / 6 months / 1 year, expired partitions dropped; both tools
              with their default settings apart from dropping instead of keeping
              (pgwarden's `partitions.detach_concurrently` stays on, and its
              `partitions.parallel` 2 spreads the tables over two connections;
              `--parallel 1` measures it with one, as pg_partman works)
Each kind is timed in two rows, the same way for both tools:
  fresh   the timer includes connecting, as a cron-started run does:
          pgwarden opens its `Database` like `pgwarden partitions run` (connect,
          runtime config, run with its schema check, close); pg_partman connects and
          calls `run_maintenance()`
  warm    on the connection (pgwarden: the pool) that prepared the set
In the steady kind pgwarden's runs after the first find the stamps its first
left (a parent found settled is not read again until its plan can change: the
next period boundary, or the first partition's expiry, or any change of its
children or policy), as a cron-started run does between two period
boundaries. The steady kind has three more rows:
  full read  `fresh` with pgwarden's stamps deleted first (untimed): every
          parent's children read and planned, as the first run after a period
          boundary does; pg_partman as in `fresh` (it reads everything every run)
  process a cron job as a whole: `pgwarden partitions run` as a new process
          (Python start-up and imports, with bytecode cached as an installed
          package has it) against `psql -c 'SELECT partman.run_maintenance()'`
  floor   pgwarden alone: connect, the catalog query a run sends, close; what
          reading every bound on a new connection costs before any planning
The output says what each row includes ("rows").
The first runs come first, then steady, then retention (see FILES).
Within each repeat the tools run back to back, the order of the four runs
rotating from one repeat to the next, so both see the same load; the output
gives medians and the per-repeat ratios pg_partman / pgwarden (above 1:
pgwarden faster).
A throwaway PostgreSQL 15 cluster of Debian's binaries runs both tools, one
fresh database per measurement, with fsync, synchronous_commit,
full_page_writes and autovacuum off (catalog work, not disk flushes).
pg_partman is used when Debian's postgresql-15-partman is installed; without
it pgwarden runs alone and says so. The load average before and after is
printed: on a shared machine, read ratios, not absolute times.

FILES: each new partition is five files (table, TOAST table and index, two
indexes), the same for both tools. On an ext4 file system without a journal
(this project's test machines) the kernel, to allocate a file's inode, steps
over every inode of the block group deleted recently (the last minute, six
while their inode blocks are unwritten), reading each one's block, and it does
so again for every file it creates: `perf` shows a first run's backend 68% in
ext4_create -> find_inode_bit -> recently_deleted. A first run then costs 1.2-2 s
more of kernel time, for either tool, when files were deleted just before near
its database's directory: a DROP DATABASE, the removal of a cluster, another
process's test databases (mkdtemp puts every cluster under the temp directory,
in the same groups). So the first runs go before anything else and keep their
databases until the last repeat is done (a DROP between repeats slowed the next
one: 150 -> 2070 ms of kernel time for the same 676 partitions), each sample
says how much of the server's CPU was kernel time (`server_kernel_ms`), and
`cpu_without_kernel_ratio_per_repeat` compares the tools' own work. What other
processes delete cannot be kept out: with others' test databases coming and
going in /tmp, `--data-dir` elsewhere (/var/tmp here) or on tmpfs (/dev/shm)
takes their deletions out of the comparison.

    uv run python benchmarks/partitions.py [--repeats 4] [--steady-repeats 12]
        [--only first,steady,retention] [--data-dir /dev/shm] [--parallel N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.conninfo import with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import connect
from pgwarden.partitions import catalog, run_maintenance, store
from pgwarden.partitions.maintain import RunReport
from pgwarden.services import Services
from pgwarden.settings import Settings

PG15 = Path("/usr/lib/postgresql/15/bin")
PARTMAN = Path("/usr/share/postgresql/15/extension/pg_partman.control")
PGWARDEN_BIN = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"
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
PARALLEL: int | None = None  # pgwarden's partitions.parallel; None: its default
ROWS = ("fresh", "warm")
STEADY_ROWS = ("fresh", "full read", "warm", "process", "floor")
MAINTENANCE = "SELECT partman.run_maintenance(p_analyze := false, p_jobmon := false)"
# What each row's timer includes, printed with the results.
ROW_MEANING = {
    "fresh": "in this process, the timer includes connecting: pgwarden opens its Database as "
    "`pgwarden partitions run` does after its imports (pool with one connection, runtime "
    "config, run with the schema revision check in its first round trip, close); "
    "pg_partman: psycopg.connect, run_maintenance(), close; in the steady row pgwarden's "
    "open_ms / run_ms / close_ms split its time",
    "full read": "steady only, as fresh, with pgwarden's quiet stamps deleted before the "
    "timer starts: every child read and planned (the first run after a period boundary)",
    "warm": "in this process, on the connection that prepared the set (pgwarden: its pool)",
    "process": "steady only, a cron job as a whole: `pgwarden partitions run` as a new process "
    "(Python start-up and imports, bytecode cached as after an install, connect, run, exit) "
    "against `psql -X -q -c 'SELECT partman.run_maintenance(...)'` as a new process",
    "floor": "steady only, pgwarden alone: psycopg.connect + the catalog query every run "
    "sends (all managed parents with every child's bound) + close; what reading the "
    "bounds on a new connection costs before any planning",
}


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

    def drop(self, conninfo: str) -> None:
        name = str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])
        with psycopg.connect(self.server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    def checkpoint(self) -> None:
        """Write out what the setups dirtied, so no timed run pays for it, and have the
        kernel write it to disk (fsync is off): every set's files then are on disk, as an
        expired partition's are. Without the sync the kernel wrote back only files dirty
        for 30 s: a repeat's sets are built one after the other, pgwarden's first, so its
        sets' files were often on disk and pg_partman's not yet, and a file never written
        back is cheaper to drop (pgwarden's fresh retention: 300 ms for a young set, 480-500
        for one written back, the same run)."""
        with psycopg.connect(self.server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        os.sync()

    def cpu_ms(self) -> tuple[float, float] | None:
        """CPU time the server has used so far, (all, in the kernel) in ms (Linux /proc;
        None elsewhere).

        The postmaster's own and its reaped children's (backends that have
        exited), plus every live child's. Under load, wall time mostly measures
        the wait for a core; CPU time is the work done. The kernel's share is
        where a first run's file creation shows (see FILES).
        """
        for _ in range(20):  # a child may exit between listing and reading it
            try:
                pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
                user, system = _ticks(pid, children=True)
                for child in self._children(pid):
                    u, k = _ticks(child)
                    user, system = user + u, system + k
            except (OSError, ValueError):
                continue
            tick = 1000 / os.sysconf("SC_CLK_TCK")
            return (user + system) * tick, system * tick
        return None

    def settle(self, before: int) -> None:
        """Wait (at most 1 s) until the backends a fresh run started have exited."""
        pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
        deadline = time.monotonic() + 1
        while len(self._children(pid)) > before and time.monotonic() < deadline:
            time.sleep(0.005)

    def live(self) -> int:
        pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
        return len(self._children(pid))

    @staticmethod
    def _children(pid: int) -> list[int]:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def version(self) -> str:
        with psycopg.connect(self.server.conninfo("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def file_system(path: Path) -> str:
    """The type of the file system holding `path` (Linux /proc/mounts; "?" elsewhere)."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fs, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fs
    except OSError:
        pass
    return kind


def _ticks(pid: int, children: bool = False) -> tuple[int, int]:
    """(user, kernel) clock ticks of `pid`, with its reaped children's when asked."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[11:15]: utime, stime, cutime, cstime (proc(5), counted from field 3)
    user, system = int(fields[11]), int(fields[12])
    if children:
        user, system = user + int(fields[13]), system + int(fields[14])
    return user, system


# -- pgwarden --------------------------------------------------------------------------


def _settings(conninfo: str) -> Settings:
    return Settings(dsn=conninfo, PGWARDEN_SCHEMA=SCHEMA)


class Pgwarden:
    """A pgwarden set; `run()` on its warm pool, `run_fresh()` the way the CLI does."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.conninfo = cluster.fresh()
        with psycopg.connect(self.conninfo) as conn:
            create_parents(conn)
        migrate.upgrade(self.conninfo, SCHEMA)
        self.db = connect(_settings(self.conninfo), name="bench")
        self.services = Services(db=self.db, config=RuntimeConfig(self.db))
        self.services.config.set("partitions.max_create_periods", 1000)
        if PARALLEL is not None:
            self.services.config.set("partitions.parallel", PARALLEL)
        self.last_parts: dict[str, float] = {}

    def close(self) -> None:
        self.db.close()
        self.cluster.drop(self.conninfo)

    def add(self, name: str, interval: str, premake: int) -> None:
        store.add_policy(self.db, f"bench.{name}", interval=interval, premake=premake)

    def set(self, name: str, **kw: Any) -> None:
        store.set_policy(self.db, f"bench.{name}", **kw)

    def forget_quiet(self) -> None:
        """Delete the stamps of quiet parents: the next run reads every child."""
        with self.db.connection() as conn:
            conn.execute(sql.SQL("DELETE FROM {}.partition_quiet").format(sql.Identifier(SCHEMA)))

    def run(self, now: datetime | None = None) -> tuple[float, RunReport]:
        t0 = time.perf_counter()
        report = run_maintenance(self.services, now=now)
        return (time.perf_counter() - t0) * 1000, _checked(report)

    def run_fresh(self) -> tuple[float, RunReport]:
        # What `pgwarden partitions run` does after its imports: freeze them out of the
        # cyclic GC (process-wide: pg_partman's timings get it too), connect, read runtime
        # config, run (the schema revision checked in the run's first round trip), close.
        gc.freeze()
        t0 = time.perf_counter()
        db = connect(_settings(self.conninfo), name="pgwarden-cli", short_lived=True)
        t1 = time.perf_counter()
        try:
            services = Services(db=db, config=RuntimeConfig(db))
            report = run_maintenance(services, revision=migrate.head())
        finally:
            t2 = time.perf_counter()
            db.close()
        t3 = time.perf_counter()
        # where a fresh run's time goes: opening the Database (connect, pool), the run
        # (runtime config, its round trips, planning), closing (pool threads, connection)
        self.last_parts = {
            "open_ms": round((t1 - t0) * 1000, 1),
            "run_ms": round((t2 - t1) * 1000, 1),
            "close_ms": round((t3 - t2) * 1000, 1),
        }
        return (t3 - t0) * 1000, _checked(report)

    def run_process(self, env: dict[str, str]) -> float:
        """`pgwarden partitions run` as cron starts it: a new process, start to exit."""
        t0 = time.perf_counter()
        subprocess.run(
            [PGWARDEN_BIN, "partitions", "run"],
            check=True,
            env={**env, "PGWARDEN_DSN": self.conninfo, "PGWARDEN_SCHEMA": SCHEMA},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return (time.perf_counter() - t0) * 1000

    def read_floor(self) -> float:
        """A new connection that only reads the bounds a run reads, then closes."""
        q = store.queries(self.db)
        t0 = time.perf_counter()
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(q["catalog"], catalog.ALL_MANAGED).fetchall()
        return (time.perf_counter() - t0) * 1000


def _process_env(cache: Path) -> dict[str, str]:
    """The environment of a CLI child: bytecode written to and read from `cache`, as an
    installed package has it (PYTHONDONTWRITEBYTECODE would make every start compile)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _checked(report: RunReport) -> RunReport:
    if report.status != "ok":
        raise RuntimeError(f"pgwarden run {report.status}: {report.message}")
    return report


def _paths(report: RunReport) -> dict[str, int]:
    """How many tables took each removal path (short, concurrent, plain)."""
    return dict(Counter(t.removal_path for t in report.tables if t.removal_path))


def pgwarden_first_set(cluster: Cluster) -> Pgwarden:
    pw = Pgwarden(cluster)
    for name, interval, _, _ in parents():
        pw.add(name, interval, 1)
    pw.run()  # 2 partitions each, like create_parent(premake 1)
    for name, _, premake, _ in parents():
        pw.set(name, premake=premake)
    return pw


def pgwarden_steady_set(cluster: Cluster) -> Pgwarden:
    pw = Pgwarden(cluster)
    for name, interval, premake, _ in parents():
        pw.add(name, interval, premake)
    pw.run()
    pw.run()  # finds every parent settled and stamps it, as a second cron run would
    return pw


def pgwarden_retention_set(cluster: Cluster) -> Pgwarden:
    pw = Pgwarden(cluster)
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
            pw.set(name, enabled=iv == interval)
        pw.run(now=when)
    for name, _, premake, _ in parents():
        pw.set(name, premake=premake, enabled=True)
    pw.run()  # settle premake, untimed
    for name, _, _, retention in parents():
        pw.set(name, retention=retention)
    return pw


# -- pg_partman ------------------------------------------------------------------------


class Partman:
    """A pg_partman set; `run()` on the connection that made it, `run_fresh()` connects."""

    def __init__(self, cluster: Cluster, start: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.conninfo = cluster.fresh()
        self.conn = psycopg.connect(self.conninfo, autocommit=True)
        self.conn.execute("CREATE SCHEMA partman")
        self.conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
        create_parents(self.conn)
        for name, interval, _, _ in parents():
            self.conn.execute(
                "SELECT partman.create_parent(%s, 'ts', 'native', %s, p_premake := 1, "
                "p_start_partition := %s, p_jobmon := false)",
                [f"bench.{name}", interval, (start or {}).get(interval)],
            )
        self.conn.execute("UPDATE partman.part_config SET infinite_time_partitions = true")
        self.conn.execute(
            "UPDATE partman.part_config SET premake = CASE WHEN partition_interval = "
            "'1 day'::interval::text OR partition_interval = '1 day' THEN 7 ELSE 6 END"
        )

    def close(self) -> None:
        self.conn.close()
        self.cluster.drop(self.conninfo)

    def run(self) -> float:
        t0 = time.perf_counter()
        self.conn.execute(MAINTENANCE)
        return (time.perf_counter() - t0) * 1000

    def run_fresh(self) -> float:
        t0 = time.perf_counter()
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(MAINTENANCE)
        return (time.perf_counter() - t0) * 1000

    def run_process(self) -> float:
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(PG15 / "psql"),
                self.conninfo,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                MAINTENANCE,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return (time.perf_counter() - t0) * 1000


def partman_first_set(cluster: Cluster) -> Partman:
    return Partman(cluster)


def partman_steady_set(cluster: Cluster) -> Partman:
    pm = Partman(cluster)
    pm.run()
    return pm


def partman_retention_set(cluster: Cluster) -> Partman:
    now = datetime.now(UTC)
    start = {
        "daily": (now - timedelta(days=21)).date().isoformat(),
        "monthly": (now - timedelta(days=366)).date().isoformat(),
        "quarterly": (now - timedelta(days=2 * 366)).date().isoformat(),
    }
    pm = Partman(cluster, start)
    pm.run()  # settle, untimed
    for interval, _, _, retention in SHAPES:
        pm.conn.execute(
            "UPDATE partman.part_config SET retention = %s, retention_keep_table = false "
            "WHERE parent_table LIKE %s",
            [retention, f"bench.{interval[0]}%"],
        )
    return pm


# -- driver ----------------------------------------------------------------------------

Sample = dict[str, Any]  # one timed run: ms, partitions touched, extra facts


class Results:
    def __init__(self) -> None:
        self.samples: dict[tuple[str, str, str], list[Sample]] = {}

    def add(self, kind: str, row: str, tool: str, sample: Sample) -> None:
        self.samples.setdefault((kind, row, tool), []).append(sample)

    def table(self, tools: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, row in sorted({(k, r) for k, r, _ in self.samples}):
            entry: dict[str, Any] = {}
            for tool in tools:
                got = self.samples.get((kind, row, tool), [])
                if not got:
                    continue
                ms = [s["ms"] for s in got]
                entry[tool] = {
                    "median_ms": round(statistics.median(ms), 1),
                    "runs_ms": [round(v, 1) for v in ms],
                    **{k: [s[k] for s in got] for k in got[0] if k != "ms"},
                }
            if "pgwarden" in entry and "pg_partman" in entry:
                pw = entry["pgwarden"]["runs_ms"]
                pm = entry["pg_partman"]["runs_ms"]
                ratios = [round(b / a, 2) for a, b in zip(pw, pm, strict=True)]
                entry["ratio_per_repeat (partman / pgwarden)"] = ratios
                entry["ratio_of_medians"] = round(statistics.median(pm) / statistics.median(pw), 2)
                entry["median_ratio"] = round(statistics.median(ratios), 2)
                pw_cpu = entry["pgwarden"].get("cpu_ms")
                pm_cpu = entry["pg_partman"].get("cpu_ms")
                if pw_cpu and pm_cpu:
                    entry["cpu_ratio_per_repeat"] = [
                        round(b / a, 2) if a else None for a, b in zip(pw_cpu, pm_cpu, strict=True)
                    ]
                    entry["cpu_ratio_of_medians"] = round(
                        statistics.median(pm_cpu) / statistics.median(pw_cpu), 2
                    )
                pw_k = entry["pgwarden"].get("server_kernel_ms")
                pm_k = entry["pg_partman"].get("server_kernel_ms")
                if pw_cpu and pm_cpu and pw_k and pm_k:
                    # the tools' own work: CPU less the server's time in the kernel (see FILES)
                    own = [
                        round((b - bk) / (a - ak), 2) if a - ak > 0 else None
                        for a, ak, b, bk in zip(pw_cpu, pw_k, pm_cpu, pm_k, strict=True)
                    ]
                    entry["cpu_without_kernel_ratio_per_repeat"] = own
            out[f"{kind} ({row})"] = entry
        return out


def interleaved(
    cluster: Cluster,
    results: Results,
    kind: str,
    repeat: int,
    jobs: dict[str, dict[str, Callable[[], Sample]]],
    rows: tuple[str, ...] = ROWS,
) -> None:
    """Run every (row, tool) once per repeat, the order rotated from one repeat to the next.

    The first timed run after the setups costs more whatever it is (measured:
    about 2 s of CPU against 0.7-1.7 s for the same first run second), so each
    row and tool takes each place in turn over the repeats (use a multiple of
    four). Besides wall time each sample gets `cpu_ms`: the server's CPU time
    during the run plus this process's (pgwarden's client side; pg_partman's
    is idle), and `server_kernel_ms`, the server's part of it spent in the kernel.
    """
    slots = [(row, tool) for row in rows for tool in jobs if row in jobs[tool]]
    shift = repeat % len(slots)
    for row, tool in slots[shift:] + slots[:shift]:
        live = cluster.live()
        server0, client0 = cluster.cpu_ms(), _client_cpu()
        sample = jobs[tool][row]()
        cluster.settle(live)
        server1, client1 = cluster.cpu_ms(), _client_cpu()
        if server0 is not None and server1 is not None:
            sample["cpu_ms"] = round(server1[0] - server0[0] + client1 - client0, 1)
            sample["client_cpu_ms"] = round(client1 - client0, 1)
            sample["server_kernel_ms"] = round(server1[1] - server0[1], 1)
        results.add(kind, row, tool, sample)


def _client_cpu() -> float:
    """CPU ms of this process and its reaped children (the CLI and psql of `process` rows)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (time.process_time() + kids.ru_utime + kids.ru_stime) * 1000


def one_first(
    cluster: Cluster, results: Results, repeat: int, has_partman: bool, kept: list[Any]
) -> None:
    """One repeat of first runs; its sets go to `kept`, dropped when the phase is over
    (see FILES: a DROP DATABASE here would slow the next repeat's file creation)."""
    pw = {row: pgwarden_first_set(cluster) for row in ROWS}
    kept.extend(pw.values())
    pm = {row: partman_first_set(cluster) for row in ROWS} if has_partman else {}
    kept.extend(pm.values())
    cluster.checkpoint()
    before_pm = {row: count_partitions(p.conninfo) for row, p in pm.items()}

    def pw_job(row: str) -> Callable[[], Sample]:
        def job() -> Sample:
            ms, report = pw[row].run_fresh() if row == "fresh" else pw[row].run()
            return {"ms": ms, "partitions": report.count("create")}

        return job

    def pm_job(row: str) -> Callable[[], Sample]:
        def job() -> Sample:
            ms = pm[row].run_fresh() if row == "fresh" else pm[row].run()
            return {"ms": ms, "partitions": count_partitions(pm[row].conninfo) - before_pm[row]}

        return job

    jobs = {"pgwarden": {row: pw_job(row) for row in ROWS}}
    if has_partman:
        jobs["pg_partman"] = {row: pm_job(row) for row in ROWS}
    interleaved(cluster, results, "first_run", repeat, jobs)


def one_retention(cluster: Cluster, results: Results, repeat: int, has_partman: bool) -> None:
    pw = {row: pgwarden_retention_set(cluster) for row in ROWS}
    pm = {row: partman_retention_set(cluster) for row in ROWS} if has_partman else {}
    cluster.checkpoint()
    try:
        before_pm = {row: count_partitions(p.conninfo) for row, p in pm.items()}

        def pw_job(row: str) -> Callable[[], Sample]:
            def job() -> Sample:
                ms, report = pw[row].run_fresh() if row == "fresh" else pw[row].run()
                return {"ms": ms, "partitions": report.count("drop"), "paths": _paths(report)}

            return job

        def pm_job(row: str) -> Callable[[], Sample]:
            def job() -> Sample:
                ms = pm[row].run_fresh() if row == "fresh" else pm[row].run()
                return {"ms": ms, "partitions": before_pm[row] - count_partitions(pm[row].conninfo)}

            return job

        jobs = {"pgwarden": {row: pw_job(row) for row in ROWS}}
        if has_partman:
            jobs["pg_partman"] = {row: pm_job(row) for row in ROWS}
        interleaved(cluster, results, "retention", repeat, jobs)
    finally:
        for p in [*pw.values(), *pm.values()]:
            p.close()  # type: ignore[attr-defined]


def steady(cluster: Cluster, results: Results, repeats: int, has_partman: bool) -> None:
    pw = pgwarden_steady_set(cluster)
    pm = partman_steady_set(cluster) if has_partman else None
    cluster.checkpoint()
    cache = Path(tempfile.mkdtemp(prefix="pgw-bench-pyc-"))
    env = _process_env(cache)
    try:
        pw.run_process(env)  # writes the bytecode cache, untimed

        def pw_job(row: str) -> Callable[[], Sample]:
            def job() -> Sample:
                if row == "process":
                    return {"ms": pw.run_process(env)}
                if row == "floor":
                    return {"ms": pw.read_floor()}
                if row in ("fresh", "full read"):
                    if row == "full read":
                        pw.forget_quiet()
                    ms, report = pw.run_fresh()
                    assert not report.plan.actions
                    return {"ms": ms, **pw.last_parts}
                ms, report = pw.run()
                assert not report.plan.actions
                return {"ms": ms}

            return job

        jobs: dict[str, dict[str, Callable[[], Sample]]] = {
            "pgwarden": {row: pw_job(row) for row in STEADY_ROWS}
        }
        if pm is not None:
            jobs["pg_partman"] = {
                "fresh": lambda: {"ms": pm.run_fresh()},
                "full read": lambda: {"ms": pm.run_fresh()},
                "warm": lambda: {"ms": pm.run()},
                "process": lambda: {"ms": pm.run_process()},
            }
        for repeat in range(repeats):
            interleaved(cluster, results, "steady", repeat, jobs, STEADY_ROWS)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        pw.close()
        if pm is not None:
            pm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=4, help="repeats of first run and retention")
    ap.add_argument("--steady-repeats", type=int, default=12)
    ap.add_argument("--only", default="first,steady,retention", help="comma-separated kinds")
    ap.add_argument(
        "--data-dir",
        default=None,
        help="where the throwaway cluster lives (default: the system temp directory); "
        "e.g. /dev/shm to take the file system out of the comparison (see FILES)",
    )
    ap.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="pgwarden's partitions.parallel (default: its default, 2 connections)",
    )
    args = ap.parse_args()
    global PARALLEL
    PARALLEL = args.parallel
    kinds = set(args.only.split(","))
    has_partman = PARTMAN.exists() and PG15.exists()
    started = time.perf_counter()
    result: dict[str, object] = {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "pgwarden_parallel": args.parallel or "default",
    }
    results = Results()
    with tempfile.TemporaryDirectory(prefix="pgw-bench-", dir=args.data_dir) as home:
        result["data_dir"] = {"path": home, "file_system": file_system(Path(home))}
        cluster = Cluster(Path(home))
        try:
            result["postgres"] = cluster.version()
            result["parents"] = len(parents())
            tools = ["pgwarden", "pg_partman"] if has_partman else ["pgwarden"]
            if not has_partman:
                result["pg_partman"] = "not installed: pgwarden measured alone"
            # first runs before anything is dropped (see FILES), then steady, then retention
            if "first" in kinds:
                kept: list[Any] = []
                try:
                    for repeat in range(args.repeats):
                        one_first(cluster, results, repeat, has_partman, kept)
                finally:
                    for made in kept:
                        made.close()
            if "steady" in kinds:
                steady(cluster, results, args.steady_repeats, has_partman)
            if "retention" in kinds:
                for repeat in range(args.repeats):
                    one_retention(cluster, results, repeat, has_partman)
            result["rows"] = ROW_MEANING
            result["results"] = results.table(tools)
        finally:
            cluster.server.stop()
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
