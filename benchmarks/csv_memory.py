"""Benchmark: the memory ceiling on a large CSV file, chunked against read whole.

    uv run python benchmarks/csv_memory.py [--n 5000000]

Writes an --n record CSV file (quoted fields included) to a temp directory,
then checks it from its path in a fresh process twice: with the default
`quality.max_memory_mb` (512, so it is checked in chunks) and with a ceiling
too high to matter (read whole). Prints each run's peak resident set of the
whole process (imports included), its time, and whether the counts agree.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = """
metadata_checks: false
rules:
  - {kind: required, fields: [id, timestamp, value]}
  - {kind: range, field: value, min: 1, max: 1000}
  - {kind: allowed, field: status, values: [active, idle]}
  - {kind: regex, field: user, pattern: "^u[0-9]+$"}
  - {kind: unique, field: id}
  - {kind: freshness, field: timestamp, max_age: 1h, max_future: 0}
"""


def write_csv(path: Path, n: int, seed: int = 3) -> None:
    rnd = random.Random(seed)
    quoted = '"a, b"'
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,user,value,status,timestamp,note\n")
        block: list[str] = []
        for i in range(n):
            stamp = (NOW - timedelta(minutes=rnd.randrange(90))).strftime("%Y-%m-%dT%H:%M:%SZ")
            note = "plain" if i % 7 else quoted
            status = "active" if i % 3 else "idle"
            block.append(
                f"r{i},u{rnd.randrange(500)},{rnd.randrange(-5, 1100)},{status},{stamp},{note}\n"
            )
            if len(block) == 10_000:
                fh.write("".join(block))
                block = []
        fh.write("".join(block))


def child(path: str, ceiling: int) -> None:
    from pgwarden.quality.batch import DataBatch
    from pgwarden.quality.check import CheckOptions, check_batch, chunked
    from pgwarden.quality.rules import parse_yaml

    options = CheckOptions(max_memory_mb=ceiling)
    batch = DataBatch(source="bench", records=Path(path), received_at=NOW)
    started = time.perf_counter()
    result = check_batch(batch, parse_yaml("bench", RULES), NOW, options=options)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"chunked": chunked(batch, options), "seconds": took, "peak_mib": peak,
                      "counts": result.counts, "records": result.records}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--child")
    ap.add_argument("--ceiling", type=int, default=512)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.ceiling)
        return
    with tempfile.TemporaryDirectory(prefix="pgw-csv-") as tmp:
        path = Path(tmp) / "big.csv"
        write_csv(path, args.n)
        size = path.stat().st_size
        runs = {}
        for label, ceiling in (("chunked (512 MB ceiling)", 512), ("whole", 1_048_576)):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "--ceiling", str(ceiling)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            runs[label] = json.loads(out.strip().splitlines()[-1])
    print(f"CSV memory ceiling: {args.n:,} records, {size / 1e6:.0f} MB")
    for label, r in runs.items():
        print(
            f"  {label:<26} chunked={r['chunked']!s:<5} {r['seconds']:6.1f} s  "
            f"peak RSS {r['peak_mib']:,.0f} MiB (whole process)"
        )
    first, second = runs.values()
    same = first["counts"] == second["counts"] and first["records"] == second["records"]
    print(f"  counts equal: {same}")


if __name__ == "__main__":
    main()
