"""Alert shapes and the pure decisions: severity, dedup, cool-down, auto-resolve.

A `Condition` is one thing wrong with one batch (a broken rule, an anomaly, a
low score, a rejection), keyed per source by `rule`. `plan` compares the
conditions of a batch with the source's open alerts and recent resolutions
and returns what to do; the store applies it. Nothing here reads a clock or
the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ALERT_SEVERITIES = ("medium", "high", "critical")
ANOMALY_CRITICAL = 0.9  # seed 004: an anomaly score above this is critical
MANY_FINDINGS = 10  # seed 004: more than this many findings in a batch is high


@dataclass(frozen=True)
class Condition:
    rule: str  # dedup key within the source, e.g. "rule:value_range", "anomaly:volume"
    kind: str  # issue | anomaly | score
    title: str
    issue_severity: str | None = None
    anomaly_score: float | None = None
    explanation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    rule: str
    severity: str
    clear_streak: int


@dataclass(frozen=True)
class Action:
    """op: open | update | touch | reopen | clear | resolve.

    `touch` counts a weaker occurrence of an open alert: the alert keeps the
    severity, title and explanation of its worst batch, so its label and its
    evidence always describe the same batch.
    """

    op: str
    rule: str
    alert_id: int | None = None
    condition: Condition | None = None
    severity: str | None = None
    severity_rule: str | None = None
    notify: str | None = None  # the delivery event: opened, escalated, resolved
    clear_streak: int = 0


def severity(cond: Condition, findings: int) -> tuple[str, str]:
    """Seed 004's rule for one condition, with the clause that fired (for the explanation)."""
    if cond.kind == "anomaly" and cond.issue_severity in SEVERITY_ORDER:
        # graded by the detector on evidence and effect (quality.anomaly.engine.grade)
        why = cond.explanation.get("severity_reason") or "graded by the anomaly detector"
        return cond.issue_severity, f"{cond.issue_severity}: {why}"
    if cond.issue_severity == "critical":
        return "critical", "critical: a critical rule was broken"
    if cond.anomaly_score is not None and cond.anomaly_score > ANOMALY_CRITICAL:
        return "critical", f"critical: anomaly score {cond.anomaly_score:.4f} > {ANOMALY_CRITICAL}"
    if findings > MANY_FINDINGS:
        return "high", f"high: {findings} findings in the batch (> {MANY_FINDINGS})"
    if cond.issue_severity == "high":
        return "high", "high: a high-severity rule was broken"
    return "medium", "medium: none of the critical or high clauses applied"


def plan(
    conditions: Sequence[Condition],
    open_alerts: Sequence[OpenAlert],
    resolved_at: Mapping[str, datetime],
    now: datetime,
    *,
    cooldown: timedelta,
    resolve_after: int,
) -> list[Action]:
    """What the batch's conditions do to the source's alerts.

    - a condition with an open alert updates it (dedup); a rise in severity
      notifies again ("escalated"); a weaker occurrence only touches it, so
      the alert keeps the evidence of its worst batch;
    - a condition whose last alert was resolved within the cool-down reopens
      that alert without a notification (a flapping check stays quiet);
    - otherwise a new alert opens and notifies;
    - an open alert whose condition is absent counts a clean batch, and
      resolves (notifying) after `resolve_after` of them in a row.
    """
    findings = len(conditions)
    by_rule = {a.rule: a for a in open_alerts}
    actions: list[Action] = []
    seen: set[str] = set()
    for cond in conditions:
        if cond.rule in seen:
            continue
        seen.add(cond.rule)
        sev, why = severity(cond, findings)
        current = by_rule.get(cond.rule)
        if current is not None:
            rise = SEVERITY_ORDER[sev] - SEVERITY_ORDER[current.severity]
            if rise < 0:
                actions.append(Action("touch", cond.rule, current.id, cond, current.severity))
                continue
            actions.append(
                Action(
                    "update", cond.rule, current.id, cond, sev, why,
                    notify="escalated" if rise > 0 else None,
                )
            )  # fmt: skip
            continue
        last = resolved_at.get(cond.rule)
        if last is not None and now - last < cooldown:
            actions.append(Action("reopen", cond.rule, None, cond, sev, why))
            continue
        actions.append(Action("open", cond.rule, None, cond, sev, why, notify="opened"))
    for alert in open_alerts:
        if alert.rule in seen:
            continue
        streak = alert.clear_streak + 1
        if streak >= resolve_after:
            actions.append(Action("resolve", alert.rule, alert.id, notify="resolved"))
        else:
            actions.append(Action("clear", alert.rule, alert.id, clear_streak=streak))
    return actions


def at_least(severity_name: str, minimum: str) -> bool:
    return SEVERITY_ORDER.get(severity_name, 0) >= SEVERITY_ORDER.get(minimum, 0)
