"""Scores and levels of a batch (pure), with the formulas stated next to the numbers.

- completeness = 1 - records lacking a required field / records (seed 004's
                     definition, the default); with `completeness: cell` in the
                     rules, 1 - missing required values / (records x required fields)
- consistency  = 1 - values not of their field's declared or dominant type
                     / non-null values of the type-checked fields
- accuracy     = 1 - records out of range, not allowed, not matching, failing a
                     custom rule, or duplicated / records
- timeliness   = 1 - records outside the freshness window / records with a readable
                     timestamp (a missing timestamp is completeness' business)
- overall      = weighted mean of the four (weights from the rules, default equal)

A dimension with nothing to measure (no required field, no freshness rule)
scores 1.0. The level comes from the overall score and the thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgwarden.quality.model import QualityLevel, Scores

RECORD_COMPLETENESS = (
    "1 - incomplete_records / records (record level: a record missing any required field "
    "counts once)"
)
CELL_COMPLETENESS = (
    "1 - missing_required / (records * required_fields) (cell level, `completeness: cell`)"
)
FORMULAS = {
    "completeness": RECORD_COMPLETENESS,
    "consistency": "1 - type_mismatches / typed_values",
    "accuracy": "1 - invalid_records / records",
    "timeliness": "1 - stale_records / timed_records",
    "overall": "sum(weight_d * score_d) / sum(weight_d)",
}


@dataclass(frozen=True)
class Levels:
    """Lower bounds of each level (runtime keys quality.level_*)."""

    excellent: float = 0.9
    good: float = 0.8
    acceptable: float = 0.7
    poor: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.poor <= self.acceptable <= self.good <= self.excellent <= 1:
            raise ValueError(
                "level thresholds must rise: poor <= acceptable <= good <= excellent, "
                f"got {self.poor}, {self.acceptable}, {self.good}, {self.excellent}"
            )


def level_for(overall: float, levels: Levels = Levels()) -> QualityLevel:
    if overall >= levels.excellent:
        return QualityLevel.EXCELLENT
    if overall >= levels.good:
        return QualityLevel.GOOD
    if overall >= levels.acceptable:
        return QualityLevel.ACCEPTABLE
    if overall >= levels.poor:
        return QualityLevel.POOR
    return QualityLevel.CRITICAL


def _share_bad(bad: int, total: int) -> float:
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - bad / total))


def compute_scores(
    counts: Mapping[str, int], weights: Mapping[str, float], levels: Levels = Levels()
) -> Scores:
    """Scores from the counts of one pass (keys as in `score_inputs`).

    Completeness is record-level unless `counts["completeness_cells"]` is 1.
    """
    if counts.get("completeness_cells"):
        completeness = _share_bad(
            counts["missing_values"], counts["records"] * counts["required_fields"]
        )
    elif counts["required_fields"]:
        completeness = _share_bad(counts["incomplete_records"], counts["records"])
    else:
        completeness = 1.0  # nothing required, nothing missing
    consistency = _share_bad(counts["type_mismatches"], counts["typed_values"])
    accuracy = _share_bad(counts["invalid_records"], counts["records"])
    timeliness = _share_bad(counts["stale_records"], counts["timed_records"])
    parts = {
        "completeness": completeness,
        "consistency": consistency,
        "accuracy": accuracy,
        "timeliness": timeliness,
    }
    total_weight = sum(float(weights.get(k, 1.0)) for k in parts)
    overall = (
        sum(float(weights.get(k, 1.0)) * v for k, v in parts.items()) / total_weight
        if total_weight > 0
        else 0.0
    )
    overall = min(1.0, max(0.0, overall))
    return Scores(
        completeness=completeness,
        consistency=consistency,
        accuracy=accuracy,
        timeliness=timeliness,
        overall=overall,
        level=level_for(overall, levels),
    )


def formulas_for(counts: Mapping[str, int]) -> dict[str, str]:
    """The formulas in force for a result with these counts (completeness says which)."""
    out = dict(FORMULAS)
    if counts.get("completeness_cells"):
        out["completeness"] = CELL_COMPLETENESS
    return out


def explain(counts: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, Any]:
    """The formulas and the input counts, for JSON output: anyone can recompute the scores."""
    return {"formulas": formulas_for(counts), "inputs": dict(counts), "weights": dict(weights)}
