"""Running one cycle's plan: PRIMARY outputs flow downstream, candidates never do.

This module holds no SQL. It runs the models of a pinned snapshot in plan
order and hands every version's result to a `RunSink` (the database store in
production, a null sink in the benchmark), so its semantics are tested
without a server:

- a PRIMARY's outputs are frozen and published to the shared context under
  its model id; downstream models read them by their edges' input keys;
- SHADOW and CHALLENGER versions get the very same `inputs` object, their
  outputs are only handed to the sink, and `SharedContext.publish` refuses
  them, so nothing but a PRIMARY can reach a downstream model;
- a failure is caught per version and recorded; the model's dependants are
  skipped with `upstream_failed:<id>`; its shadows still run;
- durations come from a monotonic clock; a params `time_budget_ms` is a
  soft budget: Python cannot pre-empt a running thread, so the model runs to
  the end and is then marked TIMEOUT (its outputs are stored, not published).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from pgwarden.models.base import (
    BaseDetectionModel,
    FrameRecords,
    ModelContext,
    ModelResult,
    Role,
    RunStatus,
    freeze,
    time_budget_ms,
)
from pgwarden.models.errors import ShadowPublishForbidden
from pgwarden.models.graph import Edge, Plan
from pgwarden.models.registry import Snapshot, VersionSpec

if TYPE_CHECKING:
    import polars as pl

#: A version's outputs: records, or the polars DataFrame the model returned, kept
#: whole: its columns are written without a Python loop over its rows
#: (`store.frame_columns`), and only a published PRIMARY's become records.
Outputs: TypeAlias = "Sequence[Mapping[str, Any]] | pl.DataFrame"


def is_frame(outputs: Any) -> bool:
    """Whether outputs are a polars DataFrame (told by its API: polars is not imported here)."""
    return callable(getattr(outputs, "to_dicts", None)) and hasattr(outputs, "columns")


def _flat(frame: Any) -> bool:
    """Whether every column of a frame holds scalars (no list, array, struct, object)."""
    return not any(t.is_nested() or type(t).__name__ == "Object" for t in frame.dtypes)


log = logging.getLogger(__name__)

ERROR_MESSAGE_MAX = 1000  # characters kept of an exception's message


@dataclass(frozen=True)
class VersionRun:
    """One version's result in one cycle."""

    model_id: str
    version: str
    version_id: int
    role: str
    status: str
    reason: str | None = None
    started_at: datetime | None = None
    duration_ms: float = 0.0
    error_class: str | None = None
    error_message: str | None = None
    output_count: int = 0
    metric_count: int = 0
    dropped_metric_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat() if self.started_at else None
        return d


@dataclass(frozen=True)
class CycleReport:
    """What `run_cycle` returns; `replayed` is true when it was read back from storage."""

    cycle_id: str
    cycle_time: datetime
    status: str  # OK, PARTIAL or FAILED
    fingerprint: str
    duration_ms: float
    runs: tuple[VersionRun, ...]
    blocked: Mapping[str, str] = field(default_factory=dict)
    cycles: tuple[str, ...] = ()
    output_rows: int = 0
    replayed: bool = False

    def run_of(self, model_id: str, version: str | None = None) -> VersionRun:
        """The PRIMARY run of a model (or the run of one version)."""
        for r in self.runs:
            if r.model_id == model_id and (
                r.version == version if version else r.role == Role.PRIMARY
            ):
                return r
        raise KeyError(f"cycle {self.cycle_id!r} has no run of {model_id!r} {version or ''}")

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in RunStatus}
        for r in self.runs:
            out[r.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "cycle_time": self.cycle_time.isoformat(),
            "status": self.status,
            "fingerprint": self.fingerprint,
            "duration_ms": self.duration_ms,
            "counts": self.counts(),
            "output_rows": self.output_rows,
            "replayed": self.replayed,
            "blocked": dict(self.blocked),
            "cycles": list(self.cycles),
            "runs": [r.to_dict() for r in self.runs],
        }


class RunSink(Protocol):
    """Receives each version's run; returns it as stored (persisting may fail it).

    A sink may also hold writes back (a `flush()` method): `record` then
    returns the run as far as known, and `flush()` writes what it holds and
    returns those runs as stored, in the order they were recorded. The
    executor flushes before a model reads its upstreams' outputs and at the
    end, so a PRIMARY whose outputs the database refused still feeds nothing.
    """

    def record(
        self, run: VersionRun, outputs: Outputs, metrics: Mapping[str, Any]
    ) -> VersionRun: ...


class NullSink:
    """Stores nothing (benchmarks, dry runs); counts what it was given."""

    def __init__(self) -> None:
        self.runs = 0
        self.rows = 0

    def record(self, run: VersionRun, outputs: Outputs, metrics: Mapping[str, Any]) -> VersionRun:
        self.runs += 1
        self.rows += len(outputs)
        return run


class SharedContext:
    """The cycle's PRIMARY outputs by model id, each frozen when published."""

    def __init__(self) -> None:
        self._outputs: dict[str, Any] = {}

    def publish(self, version: VersionSpec, outputs: Outputs) -> None:
        if version.role is not Role.PRIMARY:
            raise ShadowPublishForbidden(version.model_id, version.version, version.role.value)
        if is_frame(outputs) and _flat(outputs):
            self._outputs[version.model_id] = FrameRecords(outputs)  # rows when read
            return
        records = outputs.to_dicts() if is_frame(outputs) else list(outputs)  # type: ignore[union-attr]
        self._outputs[version.model_id] = freeze(records)

    def has(self, model_id: str) -> bool:
        return model_id in self._outputs

    def lookup(self, model_id: str) -> Any:
        return self._outputs[model_id]

    def inputs_for(self, edges: Sequence[Edge]) -> Mapping[str, Any]:
        return MappingProxyType({e.input_key: self._outputs[e.depends_on] for e in edges})


def as_outputs(outputs: Any) -> Outputs:
    """A result's outputs as a list of mappings, or a polars DataFrame as it is;
    TypeError names what was wrong."""
    if outputs is None:
        return []
    if is_frame(outputs):
        return outputs
    if isinstance(outputs, Mapping | str | bytes):
        raise TypeError("ModelResult.outputs must be a list of mappings, not a single value")
    records = list(outputs)
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise TypeError(f"ModelResult.outputs[{i}] is {type(rec).__name__}, not a mapping")
    return records


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= ERROR_MESSAGE_MAX else text[: ERROR_MESSAGE_MAX - 3] + "..."


def run_version(
    v: VersionSpec,
    model_for: Callable[[VersionSpec], BaseDetectionModel],
    *,
    cycle_id: str,
    cycle_time: datetime,
    data: Any,
    inputs: Mapping[str, Any],
    conn: Any,
    clock: Callable[[], float],
) -> tuple[VersionRun, Outputs, Mapping[str, Any]]:
    """Run one version, catching its failure; returns (run, outputs, metrics)."""
    started_at = datetime.now(UTC)
    base = VersionRun(v.model_id, v.version, v.id, v.role.value, RunStatus.OK.value)
    try:
        model = model_for(v)
    except Exception as exc:
        run = replace(
            base,
            status=RunStatus.FAILED.value,
            reason="load_failed",
            started_at=started_at,
            error_class=type(exc).__name__,
            error_message=_message(exc),
        )
        return run, [], {}
    ctx = ModelContext(
        cycle_id=cycle_id,
        cycle_time=cycle_time,
        data=data,
        model_id=v.model_id,
        version=v.version,
        role=v.role,
        params=model.params,
        inputs=inputs,
        conn=conn,
    )
    t0 = clock()
    try:
        result = model.run(ctx)
        if not isinstance(result, ModelResult):
            raise TypeError(f"run() returned {type(result).__name__}, not a ModelResult")
        outputs = as_outputs(result.outputs)
        metrics = result.metrics or {}
    except Exception as exc:
        elapsed = (clock() - t0) * 1000.0
        log.warning(
            "model %s version %s (%s) failed in cycle %s: %s: %s",
            v.model_id,
            v.version,
            v.role.value,
            cycle_id,
            type(exc).__name__,
            _message(exc),
            extra={"action": "model_failed", "model_id": v.model_id},
        )
        run = replace(
            base,
            status=RunStatus.FAILED.value,
            reason="error",
            started_at=started_at,
            duration_ms=elapsed,
            error_class=type(exc).__name__,
            error_message=_message(exc),
        )
        return run, [], {}
    elapsed = (clock() - t0) * 1000.0
    run = replace(base, started_at=started_at, duration_ms=elapsed, output_count=len(outputs))
    budget = time_budget_ms(v.params)
    if budget is not None and elapsed > budget:
        run = replace(
            run,
            status=RunStatus.TIMEOUT.value,
            reason=f"time_budget_exceeded:{elapsed:.1f}ms>{_num(budget)}ms",
        )
    return run, outputs, metrics


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else str(x)


def execute(
    snapshot: Snapshot,
    plan: Plan,
    data: Any,
    *,
    cycle_id: str,
    cycle_time: datetime,
    model_for: Callable[[VersionSpec], BaseDetectionModel],
    sink: RunSink,
    conn: Any = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[VersionRun]:
    """Run every planned version once, in plan order; every version gets one run."""
    shared = SharedContext()
    runs: list[VersionRun] = []
    flush: Callable[[], list[VersionRun]] | None = getattr(sink, "flush", None)
    # recorded but not yet known as stored: (index in runs, version, its outputs)
    held: list[tuple[int, VersionSpec, Outputs]] = []

    def settle() -> None:
        """The held runs as stored; an OK PRIMARY's outputs are published only then."""
        stored = flush() if flush is not None else [runs[i] for i, _, _ in held]
        for (i, v, outputs), run in zip(held, stored, strict=True):
            runs[i] = run
            if v.role is Role.PRIMARY and run.status == RunStatus.OK:
                shared.publish(v, outputs)
        held.clear()

    def record(v: VersionSpec, run: VersionRun, outputs: Outputs, metrics: Any) -> None:
        held.append((len(runs), v, outputs))
        runs.append(sink.record(run, outputs, metrics))

    for model_id in plan.order:
        versions = snapshot.versions_of(model_id)
        edges = plan.inputs.get(model_id, ())
        if edges and held:
            settle()  # its upstreams' outputs must be stored before it reads them
        missing = sorted({e.depends_on for e in edges if not shared.has(e.depends_on)})
        if missing:
            # The upstream PRIMARY failed, timed out or was skipped: no partial inputs.
            for v in versions:
                record(v, _skipped(v, f"upstream_failed:{missing[0]}"), [], {})
            continue
        inputs = shared.inputs_for(edges)
        for v in versions:  # PRIMARY first, then SHADOW, then CHALLENGER
            run, outputs, metrics = run_version(
                v,
                model_for,
                cycle_id=cycle_id,
                cycle_time=cycle_time,
                data=data,
                inputs=inputs,
                conn=conn,
                clock=clock,
            )
            record(v, run, outputs, metrics)
    for model_id, reason in sorted(plan.blocked.items()):
        for v in snapshot.versions_of(model_id):
            record(v, _skipped(v, reason), [], {})
    settle()
    return runs


def _skipped(v: VersionSpec, reason: str) -> VersionRun:
    return VersionRun(
        v.model_id,
        v.version,
        v.id,
        v.role.value,
        RunStatus.SKIPPED.value,
        reason=reason,
        started_at=datetime.now(UTC),
    )


def cycle_status(runs: Sequence[VersionRun]) -> str:
    """OK when every version ran OK; PARTIAL otherwise (the cycle itself completed)."""
    return "OK" if all(r.status == RunStatus.OK for r in runs) else "PARTIAL"
