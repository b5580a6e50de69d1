"""What happens after a batch result is stored: anomaly detection, alerts, daily state.

The pipeline (`pgwarden.service.pipeline`) calls `after_batch` once per newly
stored batch, after the batch row is committed. Here, in one transaction (the
caller's, when it has one open):

1. claim the batch in `quality_evaluations` (a second call for the same batch
   id does nothing and returns None: the hook is idempotent);
2. read the source's history and run the detectors (accepted batches only);
3. store the anomalies, open / update / resolve alerts (rule violations,
   low score, anomalies, and seed 004's performance thresholds) and queue
   their deliveries in the outbox;
4. merge the batch into the source's daily state.

The deliveries are only queued here; the caller sends them after the commit
with `alerts.deliver_now` (their ids are in `HookOutcome.alerts["deliveries"]`).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from pgwarden import alerts
from pgwarden.quality import daily, performance
from pgwarden.quality.anomaly import BatchPoint, Evaluation, evaluate
from pgwarden.quality.anomaly import settings_from as detector_settings
from pgwarden.quality.anomaly import store as anomaly_store
from pgwarden.quality.anomaly.explain import conditions_for
from pgwarden.quality.model import BatchResult, BatchStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookOutcome:
    evaluation: Evaluation | None
    #: alert ids by what happened to them (opened, updated, ...) and the
    #: queued delivery ids under "deliveries"
    alerts: dict[str, list[int]] = field(default_factory=dict)


def _get(config: Any, key: str, default: Any) -> Any:
    get = getattr(config, "get", None)
    return default if get is None else get(key)


def after_batch(
    conn: psycopg.Connection,
    schema: str,
    result: BatchResult,
    config: Any,
    tz: tzinfo = UTC,
) -> HookOutcome | None:
    """Evaluate anomalies and alerts for a stored batch; returns what was raised.

    `config` is the RuntimeConfig (services.config); None uses every default.
    `tz` is PGWARDEN_TIMEZONE (seasonal baselines, the daily state's day).
    Returns None when this batch was already handled.
    """
    det = detector_settings(config)
    alert_settings = alerts.settings_from(config)
    now = result.checked_at
    q = anomaly_store.queries(schema)
    # Its own transaction, or the caller's (the pipeline's holds the step's record):
    # a savepoint inside it would cost two round trips and change nothing, since an
    # error here rolls the caller's transaction back all the same.
    inside = conn.info.transaction_status == TransactionStatus.INTRANS
    with nullcontext() if inside else conn.transaction():
        claimed = conn.execute(
            q["claim_evaluation"],
            {"batch_id": result.batch_id, "source": result.source,
             "received_at": result.received_at},
        ).fetchone()  # fmt: skip
        if claimed is None:
            return None
        evaluation = None
        if result.status is BatchStatus.ACCEPTED:
            history = anomaly_store.read_history(
                conn, schema, result.source, result.batch_id, result.received_at,
                days=_get(config, "anomaly.baseline_days", 28),
                reference_batches=_get(config, "anomaly.reference_batches", 168),
            )  # fmt: skip
            evaluation = evaluate(history, point_of(result), tz, det)
            anomaly_store.store_evaluation(
                conn, schema, result.source, result.received_at, evaluation
            )
        conditions = conditions_for(
            result,
            evaluation,
            min_issue_severity=alert_settings.min_issue_severity,
            min_quality_score=alert_settings.min_quality_score,
        )
        conditions += performance.batch_conditions(conn, schema, result, config)
        raised = alerts.raise_alerts(
            conn, schema, result.source, result.batch_id, conditions, now, alert_settings
        )
        daily.merge(
            conn, schema, result, tz,
            anomalies=len(evaluation.anomalies) if evaluation else 0,
            alerts_opened=len(raised["opened"]),
        )  # fmt: skip
    if evaluation is not None and evaluation.anomalies:
        log.info(
            "batch %s of %s: %d anomalies (%s)",
            result.batch_id, result.source, len(evaluation.anomalies),
            ", ".join(r.key for r in evaluation.anomalies),
            extra={"action": "anomalies_found", "source": result.source},
        )  # fmt: skip
    return HookOutcome(evaluation, raised)


def point_of(result: BatchResult) -> BatchPoint:
    """The batch as the detectors see it."""
    return BatchPoint(
        batch_id=result.batch_id,
        received_at=result.received_at,
        records=result.records,
        accepted=result.status is BatchStatus.ACCEPTED,
        missing_values=sum(int(st.get("nulls", 0) or 0) for st in result.field_stats.values())
        if not result.counts
        else int(result.counts.get("missing_values", 0)),
        type_mismatches=int(result.counts.get("type_mismatches", 0))
        if result.counts
        else sum(int(st.get("type_mismatch", 0) or 0) for st in result.field_stats.values()),
        fields=max(1, len(result.field_stats)),
        field_stats=result.field_stats,
    )
