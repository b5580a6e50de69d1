"""Quality checks at 1 M records: pgwarden against pandera-polars, Great Expectations and
a plain Python loop, all on the same input and the same checks, counts asserted equal.

    uv run --group bench python benchmarks/quality.py [--n 1000000] [--repeats 3]

Data (seed 004's simulator, generated once, not timed): {"id", "timestamp" (ISO UTC,
microseconds, "Z"), "data": {"value": 1..1000, "status": "active"}, "user_id",
"session_id"}; 10 % defective (half lack the timestamp, half have value -999); 1 % reuse
an earlier id; timestamps spread over the 75 minutes before the reference time.

Checks (the five seed rules plus duplicates): id, timestamp and data.value required;
data.status a string; data.value in 1..1000; id unique (every occurrence counted);
timestamp within [reference - 1 h, reference].

Each measurement runs in its own process. Input bytes / dicts are built before the clock
starts; timings are best and median of the repeats; memory is the peak resident set
above the resident set holding the input (VmHWM reset through /proc/self/clear_refs).

Two more rows, for the goals of issue 14:
- small batches: one 500-record batch (frame already read, as the pipeline passes it),
  median ms per check over many checks, and the polars collects one check runs;
- memory ceiling: a --big-n record JSON-lines file (default 5 M, about 850 MB, written
  to the temp dir line by line, never held in memory) checked from its path with the
  default `quality.max_memory_mb` (512): the check process's peak resident set
  (VmHWM, the whole process, imports included) and its counts against the ground truth.
"""

# ruff: noqa: E501  (the report lines read best unbroken)
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REF = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LO = REF - timedelta(hours=1)
RULES = """
metadata_checks: false
rules:
  - {kind: required, fields: [id, timestamp, data.value]}
  - {kind: type, field: data.status, type: string}
  - {kind: range, field: data.value, min: 1, max: 1000}
  - {kind: unique, field: id}
  - {kind: freshness, field: timestamp, max_age: 1h, max_future: 0}
"""
KEYS = ("null_id", "null_timestamp", "null_value", "out_of_range", "status_not_string",
        "duplicate_ids", "stale")  # fmt: skip


# -- data ------------------------------------------------------------------------


def generate(n: int, seed: int = 42) -> tuple[list[dict[str, Any]], dict[str, int]]:
    rnd = random.Random(seed)
    records = [record(rnd, i)[0] for i in range(n)]
    return records, python_loop(records)


def record(rnd: random.Random, i: int) -> tuple[dict[str, Any], int | None]:
    """Record `i` of the stream, and the earlier record whose id it reuses (if any)."""
    ts = REF - timedelta(seconds=rnd.random() * 4500)
    rec: dict[str, Any] = {
        "id": f"src_batch_{i}",
        "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"value": rnd.randint(1, 1000), "status": "active"},
        "user_id": f"user_{rnd.randint(1, 10000)}",
        "session_id": f"session_{rnd.randint(1, 1000)}",
    }
    if rnd.random() < 0.1:
        if rnd.random() < 0.5:
            del rec["timestamp"]
        else:
            rec["data"]["value"] = -999
    if i and rnd.random() < 0.01:
        j = rnd.randrange(i)
        rec["id"] = f"src_batch_{j}"
        return rec, j
    return rec, None


def generate_file(path: Path, n: int, seed: int = 43) -> dict[str, int]:
    """The same data as `generate`, written as JSON lines without holding it; the ground
    truth is counted on the way (duplicates from the ids each record reuses)."""
    rnd = random.Random(seed)
    out = dict.fromkeys(KEYS, 0)
    lo, hi = LO, REF
    own_replaced: set[int] = set()
    reused: dict[int, int] = {}
    with path.open("w", encoding="utf-8") as fh:
        block: list[str] = []
        for i in range(n):
            rec, j = record(rnd, i)
            if j is not None:
                own_replaced.add(i)
                reused[j] = reused.get(j, 0) + 1
            if "timestamp" not in rec:
                out["null_timestamp"] += 1
            else:
                moment = datetime.fromisoformat(rec["timestamp"])
                if moment < lo or moment > hi:
                    out["stale"] += 1
            if rec["data"]["value"] < 1 or rec["data"]["value"] > 1000:
                out["out_of_range"] += 1
            block.append(json.dumps(rec))
            if len(block) == 10_000:
                fh.write("\n".join(block) + ("\n" if i + 1 < n else ""))
                block = []
        if block:
            fh.write("\n".join(block))
    for j, extra in reused.items():
        total = extra + (0 if j in own_replaced else 1)
        if total > 1:
            out["duplicate_ids"] += total
    return out


def python_loop(records: list[dict[str, Any]]) -> dict[str, int]:
    """The plain hand-written loop: the same five checks, one pass over the dicts."""
    lo, hi = LO, REF
    out = dict.fromkeys(KEYS, 0)
    counts: dict[str, int] = {}
    fromiso = datetime.fromisoformat
    for rec in records:
        rid = rec.get("id")
        if rid is None:
            out["null_id"] += 1
        else:
            counts[rid] = counts.get(rid, 0) + 1
        ts = rec.get("timestamp")
        if ts is None:
            out["null_timestamp"] += 1
        else:
            moment = fromiso(ts)
            if moment < lo or moment > hi:
                out["stale"] += 1
        data = rec.get("data") or {}
        value = data.get("value")
        if value is None:
            out["null_value"] += 1
        elif value < 1 or value > 1000:
            out["out_of_range"] += 1
        if not isinstance(data.get("status"), str):
            out["status_not_string"] += 1
    out["duplicate_ids"] = sum(c for c in counts.values() if c > 1)
    return out


# -- tools (run in a child process) ------------------------------------------------


def run_parse(data: bytes) -> dict[str, int]:
    import polars as pl

    pl.read_ndjson(data)
    return {}


def run_pgwarden(data: Any) -> dict[str, int]:
    from pgwarden.quality.batch import DataBatch
    from pgwarden.quality.check import check_batch
    from pgwarden.quality.rules import parse_yaml

    rules = parse_yaml("bench", RULES)
    result = check_batch(DataBatch(source="bench", records=data, received_at=REF), rules, REF)
    return counts_of(result.rule_counts)


def counts_of(c: dict[str, int]) -> dict[str, int]:
    """The ground truth's keys from pgwarden's rule counts."""
    return {
        "null_id": c["required:id"],
        "null_timestamp": c["required:timestamp"],
        "null_value": c["required:data.value"],
        "out_of_range": c["range:data.value"],
        "status_not_string": c["type:data.status"],
        "duplicate_ids": c["unique:id"],
        "stale": c["freshness:timestamp"],
    }


def _pandera_schema() -> Any:
    import pandera.polars as pa
    import polars as pl

    lo = LO.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    hi = REF.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return pa.DataFrameSchema(
        {
            "id": pa.Column(pl.String, nullable=False, unique=True),
            # pandera gets the same text-order trick for ISO timestamps as pgwarden
            "timestamp": pa.Column(pl.String, nullable=False, checks=pa.Check.in_range(lo, hi)),
            "value": pa.Column(pl.Int64, nullable=False, checks=pa.Check.in_range(1, 1000)),
            "status": pa.Column(pl.String, nullable=False),
        }
    )


def _pandera_counts(frame: Any) -> dict[str, int]:
    import pandera.errors as pe

    schema = _pandera_schema()
    out = dict.fromkeys(KEYS, 0)
    try:
        schema.validate(frame, lazy=True)
    except pe.SchemaErrors as exc:
        fc = exc.failure_cases
        for row in fc.group_by(["column", "check"]).len().iter_rows(named=True):
            col, check, count = row["column"], str(row["check"]), row["len"]
            if check == "not_nullable":
                out[{"id": "null_id", "timestamp": "null_timestamp", "value": "null_value",
                     "status": "status_not_string"}[col]] += count  # fmt: skip
            elif check.startswith("in_range") and col == "value":
                out["out_of_range"] += count
            elif check.startswith("in_range") and col == "timestamp":
                out["stale"] += count
            elif check == "field_uniqueness":
                out["duplicate_ids"] += count
            elif check.startswith("dtype") and col == "status":
                out["status_not_string"] += count
    return out


def run_pandera_ndjson(data: bytes) -> dict[str, int]:
    import polars as pl

    return _pandera_counts(pl.read_ndjson(data).unnest("data"))


def run_pandera_dicts(records: list[dict[str, Any]]) -> dict[str, int]:
    import polars as pl

    return _pandera_counts(pl.DataFrame(records).unnest("data"))


def run_ge(data: bytes) -> dict[str, int]:
    import great_expectations as gx
    import polars as pl

    frame = (
        pl.read_ndjson(data)
        .unnest("data")
        .with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC"))
        .to_pandas()
    )
    ctx = gx.get_context(mode="ephemeral")
    asset = ctx.data_sources.add_pandas("p").add_dataframe_asset("a")
    definition = asset.add_batch_definition_whole_dataframe("b")
    suite = ctx.suites.add(gx.ExpectationSuite(name="s"))
    e = gx.expectations
    names = {}
    for key, exp in [
        ("null_id", e.ExpectColumnValuesToNotBeNull(column="id")),
        ("null_timestamp", e.ExpectColumnValuesToNotBeNull(column="timestamp")),
        ("null_value", e.ExpectColumnValuesToNotBeNull(column="value")),
        ("out_of_range", e.ExpectColumnValuesToBeBetween(column="value", min_value=1, max_value=1000)),
        ("status_not_string", e.ExpectColumnValuesToBeOfType(column="status", type_="str")),
        ("duplicate_ids", e.ExpectColumnValuesToBeUnique(column="id")),
        ("stale", e.ExpectColumnValuesToBeBetween(column="timestamp", min_value=LO, max_value=REF)),
    ]:  # fmt: skip
        suite.add_expectation(exp)
        names[key] = exp
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(data=definition, suite=suite, name="v")
    )
    res = vd.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
    out = dict.fromkeys(KEYS, 0)

    def ident(cfg: Any) -> tuple[str, str, str]:
        kw = cfg.kwargs
        return (cfg.type, kw.get("column"), str(kw.get("min_value")))

    by_config = {ident(r.expectation_config): r for r in res.results}
    for key, exp in names.items():
        r = by_config[ident(exp.configuration)]
        out[key] = int(r.result.get("unexpected_count") or 0)
    return out


TOOLS = {
    "parse_only": ("ndjson", run_parse),
    "pgwarden_ndjson": ("ndjson", run_pgwarden),
    "pandera_ndjson": ("ndjson", run_pandera_ndjson),
    "ge_ndjson": ("ndjson", run_ge),
    "pgwarden_dicts": ("dicts", run_pgwarden),
    "pandera_dicts": ("dicts", run_pandera_dicts),
    "python_loop": ("dicts", python_loop),
}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class CollectCounter:
    """Counts polars query executions: lazy collects, eager frame methods (which collect
    a one-step lazy query), collect_all."""

    def __init__(self) -> None:
        import polars as pl

        self.count = 0
        self._saved = [
            (pl.LazyFrame, "collect", pl.LazyFrame.collect),
            (pl.LazyFrame, "_collect_eager", pl.LazyFrame._collect_eager),
            (pl, "collect_all", pl.collect_all),
        ]

    def __enter__(self) -> CollectCounter:
        for owner, name, fn in self._saved:
            setattr(owner, name, self._wrap(fn))
        return self

    def _wrap(self, fn: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return fn(*args, **kwargs)

        return counted

    def __exit__(self, *exc: object) -> None:
        for owner, name, fn in self._saved:
            setattr(owner, name, fn)


def child_small(repeats: int) -> None:
    """A 500-record batch, as the pipeline hands it over (frame read): ms and collects."""
    from pgwarden.quality.batch import DataBatch, read_batch
    from pgwarden.quality.check import check_batch
    from pgwarden.quality.rules import parse_yaml

    records, _ = generate(500, seed=3)
    rules = parse_yaml("bench", RULES)
    frame = read_batch(records)
    batch = DataBatch(source="bench", records=records, received_at=REF)
    for _ in range(50):
        check_batch(batch, rules, REF, frame=frame)
    with CollectCounter() as counter:
        check_batch(batch, rules, REF, frame=frame)
    with CollectCounter() as from_dicts:
        check_batch(batch, rules, REF)
    loops, times, cpu = 200, [], []
    for _ in range(max(repeats, 5)):
        started, used = time.perf_counter(), time.process_time()
        for _ in range(loops):
            check_batch(batch, rules, REF, frame=frame)
        times.append((time.perf_counter() - started) / loops)
        cpu.append((time.process_time() - used) / loops)
    print(json.dumps({"times": times, "cpu": cpu, "collects": counter.count,
                      "collects_dicts": from_dicts.count}))  # fmt: skip


def child_ratio(path: str, rounds: int) -> None:
    """`pl.read_ndjson` alone and pgwarden's whole check of the same bytes, alternated in
    one process round after round, so both see the same load and the same allocator."""
    import polars as pl

    data = Path(path).read_bytes()
    run_pgwarden(data[: data.index(b"\n", 1_000_000)])  # warm-up (not timed)
    pairs = []
    for _ in range(rounds):
        started = time.perf_counter()
        pl.read_ndjson(data)
        parse = time.perf_counter() - started
        started = time.perf_counter()
        run_pgwarden(data)
        pairs.append((parse, time.perf_counter() - started))
    print(json.dumps({"pairs": pairs}))


def child_interleaved(tools: list[str], path: str, n: int, rounds: int) -> None:
    """Tools on the same input alternated in one process, round after round (the order
    rotating), so each sees the same load and allocator: seconds per tool per round."""
    kinds = {TOOLS[t][0] for t in tools}
    assert len(kinds) == 1, "one input kind per interleaved run"
    data: Any = generate(n)[0] if kinds == {"dicts"} else Path(path).read_bytes()
    small, _ = generate(2000, seed=1)
    warm: Any = small if kinds == {"dicts"} else "\n".join(json.dumps(r) for r in small).encode()
    for tool in tools:
        TOOLS[tool][1](warm)
    times: dict[str, list[float]] = {t: [] for t in tools}
    for r in range(rounds):
        for tool in tools[r % len(tools) :] + tools[: r % len(tools)]:
            started = time.perf_counter()
            TOOLS[tool][1](data)
            times[tool].append(time.perf_counter() - started)
    print(json.dumps(times))


def child_big(path: str) -> None:
    """Check a large JSON-lines file from its path with the default options: peak RSS."""
    from pgwarden.quality.batch import DataBatch
    from pgwarden.quality.check import CheckOptions, check_batch, chunked
    from pgwarden.quality.rules import parse_yaml

    run_pgwarden(b'{"id": "a", "timestamp": "2026-11-21T11:30:00Z", "data": {"value": 1}}')
    rest = _hwm()
    batch = DataBatch(source="bench", records=Path(path), received_at=REF)
    in_chunks = chunked(batch, CheckOptions())
    started = time.perf_counter()
    with CollectCounter() as counter:
        result = check_batch(batch, parse_yaml("bench", RULES), REF)
    took = time.perf_counter() - started
    counts = counts_of(result.rule_counts)
    print(json.dumps({"seconds": took, "peak": _hwm(), "rest": rest, "counts": counts,
                      "chunked": in_chunks, "records": result.records,
                      "collects": counter.count}))  # fmt: skip


def child(tool: str, path: str, n: int, repeats: int) -> None:
    kind, fn = TOOLS[tool]
    # warm up imports and code paths on a small input (not timed)
    small, _ = generate(2000, seed=1)
    warm: Any = small if kind == "dicts" else "\n".join(json.dumps(r) for r in small).encode()
    fn(warm)
    data: Any
    if kind == "dicts":
        data, _ = generate(n)
    else:
        data = Path(path).read_bytes()
    import gc

    gc.collect()
    gc.freeze()
    times, counts, extra = [], None, []
    for _ in range(repeats):
        gc.collect()
        base = _rss()
        reset = _reset_hwm()
        started = time.perf_counter()
        got = fn(data)
        times.append(time.perf_counter() - started)
        extra.append((_hwm() - base) if reset else None)
        if counts is not None and got != counts:
            raise SystemExit(f"{tool}: counts differ between repeats")
        counts = got
    print(json.dumps({"tool": tool, "times": times, "counts": counts, "extra": extra}))


# -- parent ----------------------------------------------------------------------


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(tool: str, path: str, n: int, repeats: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            tool,
            "--path",
            path,
            "--n",
            str(n),
            "--repeats",
            str(repeats),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import pgwarden.quality; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )  # fmt: skip
        for _ in range(3)
    ]
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--ge-n", type=int, default=None, help="records for GE (default: --n)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--big-n", type=int, default=5_000_000,
                    help="records of the memory-ceiling run (0: skip it)")  # fmt: skip
    ap.add_argument("--child")
    ap.add_argument("--tools", help="interleaved: comma-separated tools")
    ap.add_argument("--path")
    args = ap.parse_args()
    if args.child == "small":
        child_small(args.repeats)
        return
    if args.child == "big":
        child_big(args.path)
        return
    if args.child == "ratio":
        child_ratio(args.path, args.repeats)
        return
    if args.child == "interleaved":
        child_interleaved(args.tools.split(","), args.path, args.n, args.repeats)
        return
    if args.child:
        child(args.child, args.path, args.n, args.repeats)
        return

    t0 = time.perf_counter()
    records, truth = generate(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    path = tmp / "batch.jsonl"
    path.write_bytes("\n".join(json.dumps(r) for r in records).encode())
    ge_n = args.ge_n or args.n
    ge_path = path
    if ge_n != args.n:
        ge_path = tmp / "batch_ge.jsonl"
        ge_path.write_bytes("\n".join(json.dumps(r) for r in records[:ge_n]).encode())
    ge_truth = python_loop(records[:ge_n])
    size_mb = path.stat().st_size / 1e6
    del records
    print(f"data: {args.n:,} records, {size_mb:.0f} MB of JSON lines, generated in "
          f"{time.perf_counter() - t0:.1f} s (not timed); ground truth {truth}")  # fmt: skip
    print(f"each tool in its own process, {args.repeats} repeats: best / median seconds; "
          "memory = peak RSS above the input")  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    for tool in TOOLS:
        n = ge_n if tool == "ge_ndjson" else args.n
        res = measure(tool, str(ge_path if tool == "ge_ndjson" else path), n, args.repeats)
        expected = ge_truth if tool == "ge_ndjson" else truth
        if tool != "parse_only":
            assert res["counts"] == expected, f"{tool} disagrees: {res['counts']} != {expected}"
        res["best"], res["median"] = min(res["times"]), statistics.median(res["times"])
        res["n"] = n
        peaks = [x for x in res["extra"] if x is not None]
        res["mem_mb"] = max(peaks) / 1e6 if peaks else float("nan")
        results[tool] = res
        print(f"  {tool:17s} n={n:>9,}  best {res['best']:6.3f}  median {res['median']:6.3f}  "
              f"{n / res['median']:>11,.0f} rec/s  peak extra {res['mem_mb']:7.1f} MB"
              + ("  counts agree" if tool != "parse_only" else ""))  # fmt: skip

    def ratio(a: str, b: str) -> float:
        """How many times faster a is than b, per record, on medians."""
        ra = results[a]["median"] / results[a]["n"]
        rb = results[b]["median"] / results[b]["n"]
        return rb / ra

    pg, parse = results["pgwarden_ndjson"], results["parse_only"]
    print("ratios (medians, per record; > 1 means pgwarden is faster):")
    print(
        f"  JSON lines: pgwarden vs pandera-polars   {ratio('pgwarden_ndjson', 'pandera_ndjson'):5.2f}x (goal >= 1.5)"
    )
    print(
        f"  JSON lines: pgwarden vs Great Expect.    {ratio('pgwarden_ndjson', 'ge_ndjson'):5.2f}x (goal >= 4)"
        + (f"  [GE at {ge_n:,} records]" if ge_n != args.n else "")
    )
    print(
        f"  JSON lines: pgwarden total / parse only  {pg['median'] / parse['median']:5.2f}  (goal <= 1.3; "
        f"best/best {pg['best'] / parse['best']:.2f})"
    )
    print(
        f"  dicts: pgwarden vs pandera-polars        {ratio('pgwarden_dicts', 'pandera_dicts'):5.2f}x (goal >= 1.5)"
    )
    print(
        f"  dicts: pgwarden vs plain Python loop     {ratio('pgwarden_dicts', 'python_loop'):5.2f}x (goal >= 0.8)"
    )
    print(
        f"  peak extra memory, pgwarden: ndjson {pg['mem_mb'] * 1e6 / args.n:.0f} MB, dicts "
        f"{results['pgwarden_dicts']['mem_mb'] * 1e6 / args.n:.0f} MB per million records (goal <= 100)"
    )
    rounds = max(args.repeats, 7)
    pairs = run_child("--child", "ratio", "--path", str(path), "--repeats", str(rounds))["pairs"]
    per_round = [check / parse for parse, check in pairs]
    print(f"  JSON lines, interleaved in one process ({rounds} rounds of parse then check): "
          f"median ratio {statistics.median(per_round):.2f} (goal <= 1.3; rounds "
          f"{' '.join(f'{r:.2f}' for r in per_round)}; median parse "
          f"{statistics.median(p for p, _ in pairs):.3f} s, check "
          f"{statistics.median(c for _, c in pairs):.3f} s)")  # fmt: skip
    for kind, tools in (
        ("JSON lines", ["pgwarden_ndjson", "pandera_ndjson"]),
        ("dicts", ["pgwarden_dicts", "pandera_dicts", "python_loop"]),
    ):
        got = run_child("--child", "interleaved", "--tools", ",".join(tools), "--path", str(path),
                        "--n", str(args.n), "--repeats", str(max(args.repeats, 5)))  # fmt: skip
        pg = got[tools[0]]
        for other in tools[1:]:
            ratios = [o / p for p, o in zip(pg, got[other], strict=True)]
            print(f"  {kind}, interleaved in one process: pgwarden vs {other:15s} median "
                  f"{statistics.median(ratios):.2f}x (rounds "
                  f"{' '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    took = import_time()
    print(f"  import pgwarden.quality: {took:.3f} s (goal < 0.3; polars loads on first check)")
    small = run_child("--child", "small", "--repeats", str(max(args.repeats, 5)))
    ms = statistics.median(small["times"]) * 1000
    print(f"  500-record batch (frame read, as the pipeline passes it): median {ms:.3f} ms "
          f"(best {min(small['times']) * 1000:.3f}; goal < 1; CPU time "
          f"{statistics.median(small['cpu']) * 1000:.3f} ms, all threads), "
          f"{small['collects']} polars collect(s) per check "
          f"({small['collects_dicts']} from dicts, the read included)")  # fmt: skip
    for f in tmp.iterdir():
        f.unlink()
    if args.big_n:
        big = tmp / "big.jsonl"
        t0 = time.perf_counter()
        big_truth = generate_file(big, args.big_n)
        size = big.stat().st_size
        print(f"memory ceiling: {args.big_n:,} records, {size / 1e6:.0f} MB of JSON lines "
              f"(written in {time.perf_counter() - t0:.0f} s, not timed)")  # fmt: skip
        got = run_child("--child", "big", "--path", str(big))
        assert got["counts"] == big_truth, f"counts differ: {got['counts']} != {big_truth}"
        assert got["records"] == args.big_n
        print(f"  pgwarden from the file path, quality.max_memory_mb 512: "
              f"{'in chunks' if got['chunked'] else 'whole'}, {got['seconds']:.1f} s "
              f"({args.big_n / got['seconds']:,.0f} rec/s), peak RSS of the process "
              f"{got['peak'] / 1048576:.0f} MiB (imports and a warm-up included; "
              f"{got['rest'] / 1048576:.0f} MiB before the batch; goal <= 512), "
              f"{got['collects']} collects, counts agree")  # fmt: skip
        big.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
