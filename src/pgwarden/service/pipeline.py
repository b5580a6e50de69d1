"""The pipeline cycle for one batch: quality -> model DAG -> persist -> alerts.

Exactly once in effect: the batch row is claimed (a finished batch is never
taken again), quality storage is idempotent on the batch id and the model
cycle on the cycle id derived from it, so a retried or duplicated job (a
worker killed mid-batch, a second delivery) never duplicates outputs.
A batch rejected by quality is recorded with its reason and does not feed
the models; which severity rejects is the `pipeline.block_severity` key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError
from pgwarden.service.app import Services

log = logging.getLogger(__name__)

SEVERITY_ORDER = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class ProcessOutcome:
    batch_id: str
    status: str  # DONE, REJECTED, SKIPPED (already finished)
    records: int = 0
    level: str | None = None
    overall: float | None = None
    reject_reason: str | None = None
    cycle_id: str | None = None
    models_ok: int = 0
    models_failed: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def blocking_violation(violations: Any, block_severity: str) -> str | None:
    """Pure: the reason a batch is rejected for its violations, or None."""
    if block_severity == "none":
        return None
    floor = SEVERITY_ORDER.index(block_severity)
    worst = None
    for v in violations:
        sev = str(getattr(v.severity, "value", v.severity))
        if SEVERITY_ORDER.index(sev) >= floor and (
            worst is None or SEVERITY_ORDER.index(sev) > SEVERITY_ORDER.index(worst[0])
        ):
            worst = (sev, v)
    if worst is None:
        return None
    sev, v = worst
    where = f" on {v.field}" if v.field else ""
    return f"{sev} violation of rule {v.rule}{where}: {v.count} record(s)"


def cycle_id_for(batch_id: str) -> str:
    return f"batch:{batch_id}"


def process_batch(services: Services, batch_id: str) -> ProcessOutcome:
    """Run one batch through the pipeline; a finished batch is skipped.

    An unexpected error marks the batch FAILED with the error and re-raises,
    so procrastinate retries the job (a FAILED batch may be claimed again).
    """
    q = Queries("pgwarden.service", services.db.schema)
    started = time.monotonic()
    with services.db.connection() as conn:
        row = conn.execute(q["claim_batch"], {"batch_id": batch_id}).fetchone()
        conn.commit()
    if row is None:
        log.info("batch %s already processed; skipping", batch_id, extra={"action": "skip"})
        return ProcessOutcome(batch_id, "SKIPPED")
    try:
        return _process_claimed(services, q, row, started)
    except Exception as exc:
        _finish(services, q, batch_id, "FAILED", error=f"{type(exc).__name__}: {exc}"[:2000])
        log.exception("batch %s failed", batch_id, extra={"action": "batch_failed"})
        raise


def _process_claimed(
    services: Services, q: Queries, row: tuple[Any, ...], started: float
) -> ProcessOutcome:
    from pgwarden import models, quality

    batch_id, source, received_at, fmt, payload, metadata, _attempts = row
    if payload is None:
        return _finish(services, q, batch_id, "REJECTED", reason="payload no longer stored")

    raw = bytes(payload)
    try:
        # Parse once: the same frame feeds the quality checks and the models.
        frame = quality.read_batch(raw, fmt, source=source)
    except PgwardenError:
        frame = None  # process_batch stores the batch as REJECTED with the reason
    try:
        batch = quality.make_batch(
            batch_id=batch_id,
            source=source,
            received_at=received_at,
            data=frame if frame is not None else raw,
            fmt=None if frame is not None else fmt,
            metadata=metadata,
        )
        result = quality.process_batch(services, batch)
    except PgwardenError as exc:
        # A malformed batch is recorded as rejected with its reason, never retried.
        return _finish(services, q, batch_id, "REJECTED", reason=str(exc), started=started)

    level = result.scores.level.value if result.scores else None
    overall = result.scores.overall if result.scores else None
    reason = result.reject_reason if result.status.value == "REJECTED" else None
    reason = reason or blocking_violation(
        result.violations, services.config.get("pipeline.block_severity")
    )
    if reason is not None:
        return _finish(
            services,
            q,
            batch_id,
            "REJECTED",
            records=result.records,
            level=level,
            overall=overall,
            reason=reason,
            started=started,
        )

    cycle_id = cycle_id_for(batch_id)
    report = models.run_cycle(
        services,
        cycle_id,
        received_at,
        cycle_data(batch_id, source, received_at, frame, metadata),
    )
    ok, failed = _count_runs(report)
    return _finish(
        services,
        q,
        batch_id,
        "DONE",
        records=result.records,
        level=level,
        overall=overall,
        cycle_id=cycle_id,
        models_ok=ok,
        models_failed=failed,
        started=started,
    )


def cycle_data(
    batch_id: str, source: str, received_at: datetime, frame: Any, metadata: dict[str, Any]
) -> dict[str, Any]:
    """What the model cycle sees as `ctx.data` for a pipeline batch (frame: polars)."""
    return {
        "batch_id": batch_id,
        "source": source,
        "received_at": received_at,
        "frame": frame,
        "metadata": metadata,
    }


def _count_runs(report: Any) -> tuple[int, int]:
    runs = getattr(report, "runs", ()) or ()
    statuses = [str(getattr(r.status, "value", r.status)) for r in runs]
    return statuses.count("OK"), statuses.count("FAILED") + statuses.count("TIMEOUT")


def _finish(
    services: Services,
    q: Queries,
    batch_id: str,
    status: str,
    *,
    records: int | None = None,
    level: str | None = None,
    overall: float | None = None,
    reason: str | None = None,
    error: str | None = None,
    cycle_id: str | None = None,
    models_ok: int | None = None,
    models_failed: int | None = None,
    started: float | None = None,
) -> ProcessOutcome:
    with services.db.connection() as conn:
        conn.execute(
            q["finish_batch"],
            {
                "batch_id": batch_id,
                "status": status,
                "records": records,
                "level": level,
                "overall": overall,
                "reject_reason": reason,
                "error": error,
                "cycle_id": cycle_id,
                "models_ok": models_ok,
                "models_failed": models_failed,
            },
        )
    return ProcessOutcome(
        batch_id,
        status,
        records=records or 0,
        level=level,
        overall=overall,
        reject_reason=reason,
        cycle_id=cycle_id,
        models_ok=models_ok or 0,
        models_failed=models_failed or 0,
        seconds=time.monotonic() - started if started else 0.0,
    )


def clear_old_payloads(services: Services) -> int:
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        cur = conn.execute(
            q["clear_old_payloads"], {"hours": services.config.get("pipeline.keep_payload_hours")}
        )
        return cur.rowcount
