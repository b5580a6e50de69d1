"""Benchmark of the model cycle executor: a 50-model DAG (5 levels of 10), 10 shadows.

Run:  uv run python benchmarks/models.py [--cycles 1000] [--persisted-cycles 1000] [--rows 10]

1. Executor overhead, persistence excluded: the planned snapshot runs with a
   null sink; per cycle it re-plans the pinned snapshot (as run_cycle does).
   Overhead per model per cycle = (cycle time - time inside the trivial
   models' run()) / version runs per cycle. Goal: below 0.5 ms.
2. Persisted: the same DAG registered in a fresh embedded PostgreSQL and run
   with `run_cycle` (one borrowed connection, one short transaction per
   version run, outputs by COPY): output rows per second, cycle p50/p95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pgwarden.models import BaseDetectionModel, ModelContext, ModelResult

LEVELS, WIDTH, SHADOWS = 5, 10, 10
ENTRY = "models:Trivial"  # this file, imported as `models` from the benchmarks directory


class Trivial(BaseDetectionModel):
    """Returns `rows` records; reads nothing but the size of its inputs."""

    def run(self, ctx: ModelContext) -> ModelResult:
        n = int(ctx.params.get("rows", 1))
        width = len(ctx.inputs)
        return ModelResult(
            [
                {"entity_key": f"e{i}", "score": float(i + width), "decision": "ok"}
                for i in range(n)
            ],
            {"inputs": float(width)},
        )


def dag() -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    """Model ids, edges (model, depends_on, input_key), and the 10 models with a shadow."""
    ids = [f"l{lvl}m{i}" for lvl in range(LEVELS) for i in range(WIDTH)]
    edges = []
    for lvl in range(1, LEVELS):
        for i in range(WIDTH):
            for j in {i, (i + 3) % WIDTH}:
                edges.append((f"l{lvl}m{i}", f"l{lvl - 1}m{j}", f"in{j}"))
    shadowed = [f"l{lvl}m{i}" for lvl in range(LEVELS) for i in (0, 5)]
    return ids, edges, shadowed


def overhead(cycles: int, rows: int) -> None:
    from pgwarden.models.executor import NullSink, execute
    from pgwarden.models.registry import snapshot_from_rows

    ids, edges, shadowed = dag()
    versions, vid = [], 0
    for m in ids:
        for role in ("PRIMARY", "SHADOW") if m in shadowed else ("PRIMARY",):
            vid += 1
            versions.append([vid, m, f"v{vid}", role, {"rows": rows}, f"h{vid}", "x:Trivial"])
    snap = snapshot_from_rows([[m, "", True] for m in ids], versions, [list(e) for e in edges])
    instances = {v.id: Trivial(dict(v.params), model_id=v.model_id) for v in snap.versions}

    # time spent inside run() itself, to subtract from the cycle time
    inside = [0.0]

    class Timed:
        def __init__(self, inner: Trivial) -> None:
            self.inner, self.params = inner, inner.params

        def run(self, ctx: ModelContext) -> ModelResult:
            t = time.perf_counter()
            try:
                return self.inner.run(ctx)
            finally:
                inside[0] += time.perf_counter() - t

    timed = {k: Timed(v) for k, v in instances.items()}
    per_cycle, sink = [], NullSink()
    t0 = datetime(2026, 11, 21, tzinfo=UTC)
    for c in range(cycles):
        inside[0] = 0.0
        start = time.perf_counter()
        plan = snap.plan()
        execute(snap, plan, None, cycle_id=f"c{c}", cycle_time=t0,
                model_for=lambda v: timed[v.id], sink=sink)  # type: ignore[arg-type,return-value]  # fmt: skip
        total = time.perf_counter() - start
        per_cycle.append((total, total - inside[0]))
    runs = len(snap.versions)
    over = sorted(o / runs * 1000 for _, o in per_cycle)
    tot = sorted(t * 1000 for t, _ in per_cycle)
    print(f"executor, persistence excluded: {len(ids)} models, {runs} version runs per cycle, "
          f"{cycles} cycles, {rows} output rows per run")  # fmt: skip
    print(f"  overhead per model per cycle: median {statistics.median(over):.4f} ms, "
          f"p95 {over[int(0.95 * len(over))]:.4f} ms (goal < 0.5 ms)")  # fmt: skip
    print(f"  cycle (no persistence): p50 {statistics.median(tot):.2f} ms, "
          f"p95 {tot[int(0.95 * len(tot))]:.2f} ms")  # fmt: skip


def persisted(cycles: int, rows: int) -> None:
    from pgwarden.config.runtime import RuntimeConfig
    from pgwarden.db import migrate
    from pgwarden.db.embedded import EmbeddedServer
    from pgwarden.db.pool import connect
    from pgwarden.models import activate, add_dependency, add_model, add_version, run_cycle
    from pgwarden.services import Services
    from pgwarden.settings import Settings

    ids, edges, shadowed = dag()
    with tempfile.TemporaryDirectory(prefix="pgwarden-bench-") as tmp:
        server = EmbeddedServer(Path(tmp) / "pg")
        conninfo = server.start()
        try:
            migrate.upgrade(conninfo, "pgwarden")
            settings = Settings(dsn=conninfo, PGWARDEN_SCHEMA="pgwarden", pool_min_size=1,
                                pool_max_size=2)  # type: ignore[arg-type]  # fmt: skip
            db = connect(settings, name="bench-models")
            try:
                svc = Services(db=db, config=RuntimeConfig(db))
                for m in ids:
                    add_model(svc, m)
                    add_version(svc, m, "v1", ENTRY, {"rows": rows}, role="PRIMARY")
                    activate(svc, m, "v1")
                    if m in shadowed:
                        add_version(svc, m, "v2", ENTRY, {"rows": rows + 1}, role="SHADOW")
                        activate(svc, m, "v2")
                for m, up, key in edges:
                    add_dependency(svc, m, up, key)
                t0 = datetime(2026, 11, 21, tzinfo=UTC)
                times, out_rows = [], 0
                wall = time.perf_counter()
                for c in range(cycles):
                    start = time.perf_counter()
                    report = run_cycle(svc, f"bench-{c}", t0 + timedelta(minutes=c), None)
                    times.append((time.perf_counter() - start) * 1000)
                    out_rows += report.output_rows
                    assert report.status == "OK", report.to_dict()
                wall = time.perf_counter() - wall
                times.sort()
                print(f"persisted (run_cycle on PostgreSQL, embedded): {cycles} cycles, "
                      f"{out_rows} output rows")  # fmt: skip
                print(f"  output rows per second: {out_rows / wall:,.0f} "
                      f"(version runs per second: {cycles * 60 / wall:,.0f})")  # fmt: skip
                print(f"  cycle p50 {statistics.median(times):.1f} ms, "
                      f"p95 {times[int(0.95 * len(times))]:.1f} ms")  # fmt: skip
            finally:
                db.close()
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--persisted-cycles", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=10, help="output rows per version run")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    overhead(args.cycles, args.rows)
    if args.persisted_cycles:
        persisted(args.persisted_cycles, args.rows)


if __name__ == "__main__":
    main()
