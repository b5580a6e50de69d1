"""Persisting a cycle on the ONE connection it borrowed.

Each version's writes (run row, output rows, metrics) are one statement, and
the versions held since the last flush go in one pipelined transaction (one
round trip for the pipeline's five models and a shadow: three flushes). If
the database refuses one, that transaction is rolled back and each version
is written alone, so a bad output row of one model loses that model's rows
only; the failed run is recorded with the database's error. (Written as six
round trips per version - BEGIN, run, COPY, metrics, COMMIT - the cycle's
writes were a third of a pipeline batch's waits on the server.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from pgwarden.db.arrays import TextArray
from pgwarden.db.queries import Queries
from pgwarden.models.base import METRIC_KEY_MAX, RunStatus
from pgwarden.models.executor import Outputs, VersionRun, is_frame

log = logging.getLogger(__name__)

COLUMNS = ("entity_key", "score", "decision")
WARN_KEYS_MAX = 80  # characters of each dropped key shown in the warning


def clean_metrics(metrics: Mapping[Any, Any]) -> tuple[dict[str, float], list[str]]:
    """Pure: (kept {key: float}, dropped keys). Keys must be 1..64 characters of
    text and values finite numbers (numpy scalars are turned into floats)."""
    kept: dict[str, float] = {}
    dropped: list[str] = []
    for key, value in metrics.items():
        if not isinstance(key, str) or not 1 <= len(key) <= METRIC_KEY_MAX:
            dropped.append(str(key))
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            dropped.append(key)
            continue
        number = float(value)
        if not math.isfinite(number):
            dropped.append(key)
            continue
        kept[key] = number
    return kept, dropped


def output_columns(
    outputs: Sequence[Mapping[str, Any]],
) -> tuple[list[str | None], list[str | None], list[str | None], str]:
    """Pure: the output rows as text columns (entity_key, score, decision) and the payloads.

    Values are passed as text, as COPY would: the table's types and CHECKs
    decide, and a rejected row fails this run's statement only. The payloads
    (every key but the three columns; null when there is none) are one JSON
    array, encoded in one call: encoding each row's payload on its own was a
    third of the time to persist a version's outputs.
    """
    keys: list[str | None] = []
    scores: list[str | None] = []
    decisions: list[str | None] = []
    payloads: list[dict[str, Any] | None] = []
    for rec in outputs:
        key = rec.get("entity_key")
        score = rec.get("score")
        kind = type(score)
        if kind is float:  # the common case first
            score = repr(score) if math.isfinite(score) else None  # type: ignore[arg-type]
        elif score is None or kind is str:
            pass
        elif isinstance(score, float) and not math.isfinite(score):
            score = None
        elif isinstance(score, numbers.Real) and not isinstance(score, bool):
            score = repr(float(score))  # repr round-trips a double exactly
        else:
            score = str(score)
        decision = rec.get("decision")
        if decision is not None and type(decision) is not str:
            decision = (
                ("true" if decision else "false") if isinstance(decision, bool) else str(decision)
            )
        keys.append(key if key is None or type(key) is str else str(key))
        scores.append(score)
        decisions.append(decision)
        payloads.append({k: v for k, v in rec.items() if k not in COLUMNS} or None)
    return keys, scores, decisions, json.dumps(payloads)


def frame_columns(frame: Any) -> tuple[list[str | None], list[str | None], list[str | None], str]:
    """Pure: `output_columns` of a polars DataFrame, column by column (no loop over rows).

    The same text as the records' path where the two can differ at all: a
    float score is its shortest round-trip text (null when not finite), an
    integer score a float's, a boolean decision 'true' / 'false', other
    columns cast to text by polars; the payloads are the other columns, one
    JSON object per row (null when there is no other column).
    """
    import polars as pl

    n = frame.height
    present = set(frame.columns)

    def text(name: str, *, number: bool = False) -> list[str | None]:
        if name not in present:
            return [None] * n
        col = frame.get_column(name)
        if number and (col.dtype.is_float() or col.dtype.is_integer()):
            col = col.cast(pl.Float64)
            col = pl.select(pl.when(col.is_finite()).then(col)).to_series()
        return col.cast(pl.String).to_list()

    others = [c for c in frame.columns if c not in COLUMNS]
    payloads = frame.select(others).write_json() if others else json.dumps([None] * n)
    return text("entity_key"), text("score", number=True), text("decision"), payloads


class DbSink:
    """Holds each version's run, outputs and metrics, and writes them at `flush()`.

    The executor flushes before a model reads its upstreams and at the end
    (see RunSink): the held versions are written in one round trip and one
    transaction, their statements pipelined. If the database refuses any of
    them, that transaction is rolled back and each is written alone, as one
    statement in its own transaction, so a bad output row of one model loses
    that model's rows only, recorded with the database's error.
    """

    def __init__(
        self, conn: psycopg.Connection, queries: Queries, cycle_id: str, cycle_time: datetime
    ) -> None:
        self.conn = conn
        self.q = queries
        self.cycle_id = cycle_id
        self.cycle_time = cycle_time
        self.rows = 0
        self._held: list[tuple[VersionRun, dict[str, Any] | None, int]] = []

    def record(self, run: VersionRun, outputs: Outputs, metrics: Mapping[str, Any]) -> VersionRun:
        kept, dropped = clean_metrics(metrics)
        if dropped:
            shown = ", ".join(k[:WARN_KEYS_MAX] for k in dropped)
            log.warning(
                "model %s version %s: dropped %d metric(s) with a key over %d characters "
                "or a non-finite value: %s",
                run.model_id,
                run.version,
                len(dropped),
                METRIC_KEY_MAX,
                shown,
                extra={"action": "metrics_dropped", "model_id": run.model_id},
            )
        run = replace(run, metric_count=len(kept), dropped_metric_count=len(dropped))
        try:
            keys, scores, decisions, payloads = (
                frame_columns(outputs) if is_frame(outputs) else output_columns(outputs)  # type: ignore[arg-type]
            )
        except (TypeError, ValueError) as exc:  # a payload JSON cannot encode
            run = self._failed(run, exc)
            self._held.append((run, None, 0))
            return run
        params = {
            **self._run_params(run),
            "keys": TextArray(keys),
            "scores": TextArray(scores),
            "decisions": TextArray(decisions),
            "payloads": payloads,
            "metric_keys": TextArray(list(kept)),
            "metric_values": list(kept.values()),
        }
        rows = len(outputs) if run.status != RunStatus.SKIPPED else 0
        self._held.append((run, params, rows))
        return run

    def flush(self) -> list[VersionRun]:
        """Write the held versions; returns their runs as stored, in the order recorded."""
        held, self._held = self._held, []
        if not held:
            return []
        try:
            # One round trip. On the cycle's autocommit connection the pipelined
            # statements up to the pipeline's sync are one implicit transaction
            # (no BEGIN/COMMIT to send); otherwise a (sub)transaction does it.
            with self.conn.pipeline(), _atomic(self.conn):
                for run, params, _ in held:
                    self._write(run, params)
        except _REFUSED:
            return [self._write_alone(run, params, rows) for run, params, rows in held]
        self.rows += sum(rows for _, _, rows in held)
        return [run for run, _, _ in held]

    def _write(self, run: VersionRun, params: dict[str, Any] | None) -> None:
        if params is None:
            self.conn.execute(self.q["insert_run"], self._run_params(run))
        else:
            self.conn.execute(self.q["insert_run_outputs"], params)

    def _write_alone(self, run: VersionRun, params: dict[str, Any] | None, rows: int) -> VersionRun:
        try:
            with self.conn.transaction():
                self._write(run, params)
        except _REFUSED as exc:
            # Only this version's transaction was lost; record why, alone.
            run = self._failed(run, exc)
            with self.conn.transaction():
                self._write(run, None)
            return run
        self.rows += rows
        return run

    def _failed(self, run: VersionRun, exc: Exception) -> VersionRun:
        primary = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
        diag = (primary or str(exc) or type(exc).__name__).strip()
        log.error(
            "model %s version %s: outputs rejected by the database (%s: %s); "
            "its run is recorded as FAILED, other models are unaffected",
            run.model_id,
            run.version,
            type(exc).__name__,
            diag,
            extra={"action": "outputs_rejected", "model_id": run.model_id},
        )
        return replace(
            run,
            status=RunStatus.FAILED.value,
            reason="persist_failed",
            error_class=type(exc).__name__,
            error_message=diag[:1000],
            output_count=0,
            metric_count=0,
        )

    def _run_params(self, run: VersionRun) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "cycle_time": self.cycle_time,
            "model_id": run.model_id,
            "version_id": run.version_id,
            "version": run.version,
            "role": run.role,
            "status": run.status,
            "reason": run.reason,
            "started_at": run.started_at or self.cycle_time,
            "duration_ms": run.duration_ms,
            "error_class": run.error_class,
            "error_message": run.error_message,
            "output_count": run.output_count,
            "metric_count": run.metric_count,
            "dropped_metric_count": run.dropped_metric_count,
        }


def _atomic(conn: psycopg.Connection) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if conn.autocommit else conn.transaction()


# What the database (or encoding a payload) refuses of a version's writes.
_REFUSED = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    TypeError,
    ValueError,
)


def stored_runs(conn: psycopg.Connection, queries: Queries, cycle_id: str) -> list[VersionRun]:
    rows = conn.execute(queries["cycle_runs"], {"cycle_id": cycle_id}).fetchall()
    return [
        VersionRun(
            model_id=r[0],
            version=r[1],
            version_id=r[2],
            role=r[3],
            status=r[4],
            reason=r[5],
            duration_ms=r[6],
            error_class=r[7],
            error_message=r[8],
            output_count=r[9],
            metric_count=r[10],
            dropped_metric_count=r[11],
        )
        for r in rows
    ]
