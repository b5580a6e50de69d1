"""A BatchResult as plain JSON-able data, with the score formulas and their inputs."""

from __future__ import annotations

from typing import Any

from pgwarden.quality.batch import metadata_to_json
from pgwarden.quality.model import BatchResult
from pgwarden.quality.rules import default_rules_note
from pgwarden.quality.scoring import formulas_for


def result_to_dict(result: BatchResult, *, field_stats: bool = False) -> dict[str, Any]:
    """Everything a person or a program needs to read and recompute the result."""
    scores = None
    if result.scores is not None:
        s = result.scores
        scores = {
            "completeness": s.completeness,
            "consistency": s.consistency,
            "accuracy": s.accuracy,
            "timeliness": s.timeliness,
            "overall": s.overall,
            "level": str(s.level),
            "completeness_level": "cell" if result.counts.get("completeness_cells") else "record",
            "formulas": formulas_for(result.counts),
            "inputs": dict(result.counts),
        }
    out: dict[str, Any] = {
        "batch_id": result.batch_id,
        "source": result.source,
        "status": str(result.status),
        "reject_reason": result.reject_reason,
        "received_at": result.received_at.isoformat(),
        "checked_at": result.checked_at.isoformat(),
        "records": result.records,
        "rules_version": result.rules_version,
        "rules_note": default_rules_note(result.source)
        if result.counts.get("default_rules")
        else None,
        "scores": scores,
        "violations": [
            {
                "rule": v.rule,
                "kind": v.kind,
                "field": v.field,
                "severity": str(v.severity),
                "count": v.count,
                "sample_ids": list(v.sample_ids),
                "message": v.message,
            }
            for v in result.violations
        ],
        "rule_counts": dict(result.rule_counts),
        "metadata": metadata_to_json(result.metadata),
        "performance": {
            "processing_seconds": result.processing_seconds,
            "records_per_second": result.records_per_second,
            "mb_per_second": result.mb_per_second,
            "peak_memory_bytes": result.peak_memory_bytes,
            "input_bytes": result.input_bytes,
        },
    }
    if field_stats:
        out["field_stats"] = result.field_stats
    return out
