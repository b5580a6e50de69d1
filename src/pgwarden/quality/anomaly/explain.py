"""Turn a batch's findings into explained alert conditions (pure).

Each condition carries what a person needs to act without opening a query
console: the metric, observed value, expected value and range and the window
they came from, the method, the score, the top fields, sample record ids,
the batch metadata (expected against actual records) and a recommendation in
plain words derived from those numbers, and the severity the detector graded
(medium, high or critical by effect and evidence), which the alert planner
takes as it is.
"""

from __future__ import annotations

from typing import Any

from pgwarden.alerts.model import SEVERITY_ORDER, Condition
from pgwarden.quality.anomaly.model import (
    DRIFT,
    FORMAT,
    MISSING,
    OUTLIERS,
    TIMING,
    VOLUME,
    Evaluation,
    TestResult,
)
from pgwarden.quality.model import BatchResult, BatchStatus

TOP_FIELDS = 5


def batch_context(result: BatchResult) -> dict[str, Any]:
    md = result.metadata
    return {
        "batch_id": result.batch_id,
        "source": result.source,
        "received_at": result.received_at.isoformat(),
        "records": result.records,
        "status": str(result.status),
        "source_system": md.source_system,
        "pipeline_stage": md.pipeline_stage,
        "expected_records": md.expected_records,
        "actual_records": result.records,
        "data_freshness": md.data_freshness.isoformat() if md.data_freshness else None,
    }


def top_fields(result: BatchResult, key: str) -> list[dict[str, Any]]:
    """Fields with the most nulls ("nulls") or type mismatches ("type_mismatch")."""
    ranked = sorted(
        ((name, int(st.get(key, 0) or 0)) for name, st in result.field_stats.items()),
        key=lambda x: -x[1],
    )
    return [{"field": n, key: c} for n, c in ranked[:TOP_FIELDS] if c > 0]


def _samples(result: BatchResult, kinds: tuple[str, ...] = ()) -> list[str]:
    ids: list[str] = []
    for v in result.violations:
        if kinds and v.kind not in kinds:
            continue
        ids.extend(x for x in v.sample_ids if x not in ids)
        if len(ids) >= 20:
            break
    return ids[:20]


def _recommend(r: TestResult, fields: list[dict[str, Any]]) -> str:
    names = ", ".join(f["field"] for f in fields) or "the affected fields"
    if r.metric == VOLUME:
        if r.direction == "high":
            return (
                f"{r.observed:.0f} records against about {r.expected:.0f} expected for this "
                "time slot: check the producer for replays, duplicated deliveries or a backfill."
            )
        return (
            f"{r.observed:.0f} records against about {r.expected:.0f} expected for this time "
            "slot: check the producer for an outage, a filter or a partial export."
        )
    if r.metric == MISSING:
        return (
            f"required values are missing in {100 * (r.observed or 0):.2f}% of checked values "
            f"(usual {100 * (r.expected or 0):.2f}%); look at {names} in the producer's mapping."
        )
    if r.metric == FORMAT:
        return (
            f"values of the wrong type rose to {100 * (r.observed or 0):.2f}% "
            f"(usual {100 * (r.expected or 0):.2f}%); a producer probably changed the format "
            f"of {names}."
        )
    if r.metric == TIMING:
        return (
            f"this batch came {(r.observed or 0) / 60:.1f} min after the previous one (usual "
            f"{(r.expected or 0) / 60:.1f} min): check the scheduler, or a batch went missing."
        )
    if r.metric == DRIFT:
        return (
            f"the distribution of {r.field} shifted (PSI {r.observed:.2f} on the bins its "
            f"quantiles cut, threshold {r.high}); confirm the change upstream before "
            "trusting models fed by it."
        )
    if r.metric == OUTLIERS:
        return (
            f"{100 * (r.observed or 0):.2f}% of {r.field} values fall outside the usual range "
            f"{r.low:.4g}..{r.high:.4g} (usual {100 * (r.expected or 0):.2f}%); look for a unit "
            "change or sentinel values such as -999."
        )
    return "inspect the batch and its source."


def anomaly_condition(result: BatchResult, r: TestResult) -> Condition:
    if r.metric == MISSING:
        fields = top_fields(result, "nulls")
    elif r.metric == FORMAT:
        fields = top_fields(result, "type_mismatch")
    elif r.field:
        fields = [{"field": r.field}]
    else:
        fields = []
    explanation = {
        "metric": r.key,
        "observed": r.observed,
        "expected": r.expected,
        "expected_range": [r.low, r.high],
        "window": r.window.to_dict(),
        "method": r.method,
        "score": r.score,
        "severity": r.severity,
        "severity_reason": r.details.get("severity_reason"),
        "p_value": r.p_value,
        "q_value": r.q_value,
        "effect": r.effect,
        "top_fields": fields,
        "sample_ids": _samples(result),
        "batch": batch_context(result),
        "recommendation": _recommend(r, fields),
    }
    label = {VOLUME: f"volume {'spike' if r.direction == 'high' else 'drop'}"}.get(
        r.metric, r.key.replace("_", " ")
    )
    return Condition(
        rule=f"anomaly:{r.key}",
        kind="anomaly",
        title=f"{result.source}: {label} (score {r.score:.4f})",
        issue_severity=r.severity,
        anomaly_score=r.score,
        explanation=explanation,
    )


def conditions_for(
    result: BatchResult,
    evaluation: Evaluation | None,
    *,
    min_issue_severity: str,
    min_quality_score: float,
) -> list[Condition]:
    """Everything about this batch that should be an alert, one condition per rule."""
    out: list[Condition] = []
    batch = batch_context(result)
    if result.status is BatchStatus.REJECTED:
        out.append(
            Condition(
                rule="rejected",
                kind="issue",
                title=f"{result.source}: batch {result.batch_id} rejected",
                issue_severity="high",
                explanation={
                    "metric": "batch status",
                    "observed": "REJECTED",
                    "expected": "ACCEPTED",
                    "expected_range": None,
                    "window": {"batch": result.batch_id},
                    "method": "input validation",
                    "score": None,
                    "reason": result.reject_reason,
                    "top_fields": [],
                    "sample_ids": [],
                    "batch": batch,
                    "recommendation": f"fix the input and resend it: {result.reject_reason}",
                },
            )  # fmt: skip
        )
    minimum = SEVERITY_ORDER.get(min_issue_severity, 2)
    for v in result.violations:
        if v.count <= 0 or SEVERITY_ORDER.get(str(v.severity), 0) < minimum:
            continue
        share = v.count / result.records if result.records else None
        out.append(
            Condition(
                rule=f"rule:{v.rule}",
                kind="issue",
                title=f"{result.source}: rule {v.rule} broken by {v.count} records",
                issue_severity=str(v.severity),
                explanation={
                    "metric": f"violations of {v.rule} ({v.kind})",
                    "observed": v.count,
                    "expected": 0,
                    "expected_range": [0, 0],
                    "window": {"batch": result.batch_id},
                    "method": f"rule check: {v.kind}",
                    "score": share,
                    "top_fields": [{"field": v.field}] if v.field else [],
                    "sample_ids": list(v.sample_ids[:20]),
                    "batch": batch,
                    "message": v.message,
                    "recommendation": _rule_advice(v.kind, v.field, v.count, result.records),
                },
            )  # fmt: skip
        )
    if result.scores is not None and result.scores.overall < min_quality_score:
        sc = result.scores
        dims = {
            "completeness": sc.completeness, "consistency": sc.consistency,
            "accuracy": sc.accuracy, "timeliness": sc.timeliness,
        }  # fmt: skip
        weakest = min(dims, key=lambda k: dims[k])
        out.append(
            Condition(
                rule="score",
                kind="score",
                title=f"{result.source}: quality score {sc.overall:.3f} ({sc.level})",
                issue_severity="high" if sc.overall < 0.5 else "medium",
                explanation={
                    "metric": "overall quality score",
                    "observed": sc.overall,
                    "expected": min_quality_score,
                    "expected_range": [min_quality_score, 1.0],
                    "window": {"batch": result.batch_id},
                    "method": "weighted mean of the four dimensions",
                    "score": 1 - sc.overall,
                    "dimensions": dims,
                    "top_fields": [],
                    "sample_ids": _samples(result),
                    "batch": batch,
                    "recommendation": f"the weakest dimension is {weakest} "
                    f"({dims[weakest]:.3f}); start with the rules feeding it.",
                },
            )  # fmt: skip
        )
    if evaluation is not None:
        out.extend(anomaly_condition(result, r) for r in evaluation.anomalies)
    return out


def _rule_advice(kind: str, field: str | None, count: int, records: int) -> str:
    where = f"field {field}" if field else "the batch"
    share = f"{100 * count / records:.1f}%" if records else f"{count}"
    advice = {
        "required": f"{share} of records lack {where}: fix the producer or mark it optional.",
        "type": f"{share} of values of {where} have the wrong type: align the producer's format.",
        "range": f"{share} of values of {where} are out of range: look for sentinel values "
        "(-999) or a unit change.",
        "allowed": f"{share} of values of {where} are not allowed: update the list or the "
        "producer.",
        "regex": f"{share} of values of {where} do not match the pattern.",
        "unique": f"{count} duplicates in {where}: check for replayed deliveries.",
        "freshness": f"{share} of records are stale: the producer or the queue is lagging.",
        "row_count": "the batch size is outside what was expected: check the export.",
        "schema": "fields appeared or vanished: confirm the producer's schema change.",
    }
    return advice.get(kind, f"{count} records break this rule in {where}.")
