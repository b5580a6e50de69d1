"""Past days for the demo's sources, and the anomalies injected into its live stream.

The anomaly detectors need history (24 batches each, and two days for
volume), which a one-minute demo never builds. `backfill` first loads
`days` of batches every two hours per demo source, stamped in the past, through the
same storage path as live batches (`pipeline.check_and_alert`: checks,
stored metrics, anomaly history, alerts, daily state); only the model cycles
are left out. A source that already has history in that window (a second
demo run on the same data directory) is not backfilled again.

`Injection`s then bend the live stream: a volume spike, a missing-data burst
and a drift of one field, each in one source at a set share of the run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pgwarden.db.queries import Queries
from pgwarden.demo import simulator
from pgwarden.quality.batch import DataBatch
from pgwarden.services import Services

# Two days are the volume detector's minimum; five days at a two-hour cadence
# give each two-hour slot of the day five points for its expected count, at
# the cost of sixty batches per source (an hour's cadence over 2.5 days costs
# as much, but its slot means rest on two or three points and swing widely).
DAYS = 5.0
CADENCE = timedelta(hours=2)  # of each source's past batches
JITTER = 120.0  # seconds either side of the hour


@dataclass(frozen=True)
class BackfillReport:
    batches: int
    sources: list[str]
    skipped: list[str]  # sources that had history already
    first: datetime | None
    last: datetime | None
    seconds: float


def plan_backfill(
    sources: list[str], now: datetime, *, days: float = DAYS, seed: int = 7
) -> list[tuple[datetime, simulator.SimBatch]]:
    """(received_at, batch) of `sources`' past batches, oldest first, all before `now` (pure)."""
    rng = random.Random(seed * 7919 + 1)
    steps = int(timedelta(days=days) / CADENCE)
    out: list[tuple[datetime, simulator.SimBatch]] = []
    for k, source in enumerate(sources):
        for i in range(steps, 0, -1):
            at = now - i * CADENCE + timedelta(seconds=rng.uniform(-JITTER, JITTER))
            number = -(k * steps + i)  # negative: never clashes with the live stream's numbers
            out.append((at, simulator.make_batch(rng, source, number, at)))
    out.sort(key=lambda pair: pair[0])
    return out


def backfill(
    services: Services,
    now: datetime,
    *,
    days: float = DAYS,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Store `days` of past batches per demo source before `now`; see the module doc."""
    from pgwarden.service.pipeline import check_and_alert

    started = time.monotonic()
    q = Queries("pgwarden.quality", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(
            q["source_arrivals"],
            {"since": now - timedelta(days=days) - CADENCE, "until": now, "n": 2},
        ).fetchall()
    seen = {r[0] for r in rows}
    skipped = [s for s in simulator.SOURCES if s in seen]
    todo = [s for s in simulator.SOURCES if s not in seen]
    plan = plan_backfill(todo, now, days=days, seed=seed)
    for i, (at, b) in enumerate(plan):
        batch = DataBatch(
            source=b.source, records=b.jsonl(), id=b.batch_id, received_at=at,
            metadata=b.metadata, fmt="jsonl",
        )  # fmt: skip
        check_and_alert(services, batch, now=at)
        if progress is not None:
            progress(i + 1, len(plan))
    return BackfillReport(
        batches=len(plan),
        sources=todo,
        skipped=skipped,
        first=plan[0][0] if plan else None,
        last=plan[-1][0] if plan else None,
        seconds=time.monotonic() - started,
    )


@dataclass(frozen=True)
class Injection:
    """One anomaly bent into the live stream from `at` (a share of the run) on."""

    kind: str  # spike | missing | drift
    source: str
    at: float  # share of the run's duration, 0..1
    batches: int = 1  # how many of the source's batches carry it
    description: str = ""

    def batch_kwargs(self) -> dict[str, float | int]:
        if self.kind == "spike":
            return {"size": 6000}
        if self.kind == "missing":
            return {"missing": 0.6}
        return {"spike": 2.5}


INJECTIONS = (
    Injection("spike", "user_events", 0.35, 1, "one batch of 6,000 records (usual 50-500)"),
    Injection("missing", "transaction_logs", 0.5, 2, "60 % of records lose timestamp and value"),
    Injection("drift", "system_metrics", 0.65, 4, "values scaled by 2.5"),
)


@dataclass
class Injector:
    """Which injections are due, and how many batches each still has to bend."""

    injections: tuple[Injection, ...] = INJECTIONS
    left: dict[int, int] = field(default_factory=dict)
    #: (injection, share of the run) of every bent batch, in order
    done: list[tuple[Injection, float]] = field(default_factory=list)

    def bend(self, source: str, share: float) -> dict[str, float | int]:
        """The extra make_batch arguments of the next batch of `source` at `share` of the run."""
        for i, inj in enumerate(self.injections):
            if inj.source != source or share < inj.at:
                continue
            left = self.left.setdefault(i, inj.batches)
            if left > 0:
                self.left[i] = left - 1
                self.done.append((inj, share))
                return inj.batch_kwargs()
        return {}

    def lines(self, duration: float) -> list[str]:
        """One line per injection that happened: what, where, when in the run."""
        firsts: dict[Injection, float] = {}
        counts: dict[Injection, int] = {}
        for inj, share in self.done:
            firsts.setdefault(inj, share)
            counts[inj] = counts.get(inj, 0) + 1
        return [
            f"  {inj.kind:<8} {inj.source:<17} at {firsts[inj] * duration:>4.0f} s, "
            f"{counts[inj]} batch{'es' if counts[inj] > 1 else ''}: {inj.description}"
            for inj in firsts
        ]
