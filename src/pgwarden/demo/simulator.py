"""The demo stream (after seed 004): four sources, 50-500 records a batch, 10 % defects.

Records are flat: `{"id", "timestamp", "value", "status", "category",
"user_id", "session_id"}`. A defective record either lacks its timestamp or
carries the sentinel value -999. The generator is a pure function of its
random generator and clock, so tests can replay a stream exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SOURCES = ("user_events", "transaction_logs", "system_metrics", "api_calls")
DEFECT_RATE = 0.10
SENTINEL = -999
CATEGORIES = ("A", "B", "C", "D")
# per-source level of `value`, so the sources look different on the dashboard
LEVELS = {
    "user_events": 120.0,
    "transaction_logs": 480.0,
    "system_metrics": 55.0,
    "api_calls": 230.0,
}


@dataclass(frozen=True)
class SimBatch:
    batch_id: str
    source: str
    records: list[dict[str, Any]]
    metadata: dict[str, Any]

    def jsonl(self) -> bytes:
        return "\n".join(json.dumps(r, separators=(",", ":")) for r in self.records).encode()


def make_batch(
    rng: random.Random,
    source: str,
    number: int,
    now: datetime,
    *,
    size: int | None = None,
    defect_rate: float = DEFECT_RATE,
    spike: float = 1.0,
    missing: float = 0.0,
    tag: str = "",
) -> SimBatch:
    """One batch of `source` at `now`.

    `tag` goes into the batch and record ids, so that a second run with the
    same seed sends new batches instead of duplicates of the first run's.

    For the anomaly demos: `spike` multiplies values (a drift), `missing` is
    the share of records that also lose their timestamp and value (a
    missing-data burst), and `size` sets the record count (a volume spike).
    """
    n = size if size is not None else rng.randint(50, 500)
    level = LEVELS.get(source, 100.0)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    records = []
    for i in range(n):
        record: dict[str, Any] = {
            "id": f"{source}-{tag}{number}-{i}",
            "timestamp": stamp,
            "value": round(rng.gauss(level, level * 0.15) * spike, 3),
            "status": "active",
            "category": rng.choice(CATEGORIES),
            "user_id": f"user_{rng.randint(1, 10_000)}",
            "session_id": f"session_{rng.randint(1, 1000)}",
        }
        if rng.random() < defect_rate:
            if rng.random() < 0.5:
                del record["timestamp"]
            else:
                record["value"] = SENTINEL
        if missing and rng.random() < missing:
            record.pop("timestamp", None)
            record.pop("value", None)
        records.append(record)
    metadata = {
        "source_system": source,
        "pipeline_stage": "ingestion",
        "expected_records": n,
        "data_freshness": (now - timedelta(seconds=rng.uniform(0.5, 5))).isoformat(),
    }
    key = f"{tag}{number}"
    return SimBatch(f"sim-{source}-{key}-{rng.getrandbits(32):08x}", source, records, metadata)


def stream(
    seed: int = 7,
    start: datetime | None = None,
    step: float = 1.0,
    bend: Callable[[str], dict[str, Any]] | None = None,
    tag: str = "",
) -> Iterator[SimBatch]:
    """An endless stream, one batch per `step` seconds of simulated time.

    `tag` marks this run's batch and record ids (see `make_batch`).

    `bend(source)` may return extra `make_batch` arguments for the next batch
    of that source (the demo's injected anomalies).
    """
    rng = random.Random(seed)
    now = start or datetime.now(UTC)
    number = 0
    while True:
        number += 1
        source = rng.choice(SOURCES)
        extra = bend(source) if bend is not None else {}
        yield make_batch(rng, source, number, now, tag=tag, **extra)
        now += timedelta(seconds=step)
