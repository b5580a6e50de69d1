"""Alerts for operations, raised through pgwarden.alerts: a failed run and a near capacity limit.

Each operation has one alert rule per target, "ops:<op>_failed", opened when
a run FAILS and resolved by the next run that does not. Raising an alert
never fails the operation: a problem is logged and the run stands.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgwarden.alerts import Condition
    from pgwarden.ops.runner import RunRecord
    from pgwarden.services import Services

log = logging.getLogger(__name__)

#: operations whose failure is an alert, with the severity of that alert
ALERTING = {
    "backup": "critical",
    "verify": "critical",
    "pitr_check": "critical",
    "pitr_drill": "high",
    "prune": "high",
    "retention": "high",
    "mask": "high",
    "analyze": "medium",
    "reindex": "medium",
}
FIXES = {
    "backup": "pgwarden ops backup",
    "verify": "pgwarden ops verify latest",
    "pitr_check": "pgwarden ops pitr check",
    "pitr_drill": "pgwarden ops pitr drill",
}


def _raise(services: Services, source: str, rule: str, conditions: list[Condition]) -> None:
    from pgwarden import alerts

    now = datetime.now(UTC)
    settings = alerts.settings_from(services.config)
    with services.db.connection() as conn, conn.transaction():
        done = alerts.raise_alerts(
            conn, services.db.schema, source, None, conditions, now, settings,
            only_rules=(rule,), resolve_after=1,
        )  # fmt: skip
    alerts.deliver_now(services, done["deliveries"], now)


def run_finished(services: Services, record: RunRecord) -> None:
    """Open or resolve the run's failure alert (real runs of alerting operations only)."""
    severity = ALERTING.get(record.op)
    if severity is None or record.dry_run or record.status.value in ("SKIPPED", "RUNNING"):
        return
    from pgwarden.alerts import Condition

    rule = f"ops:{record.op}_failed"
    conditions = []
    if record.status.value == "FAILED":
        conditions.append(
            Condition(
                rule=rule,
                kind="issue",
                title=f"{record.op} on {record.target} failed (run {record.id})",
                issue_severity=severity,
                explanation={
                    "run_id": record.id,
                    "error": (record.error or "")[:1000],
                    "recommendation": FIXES.get(record.op, f"pgwarden ops runs --op {record.op}"),
                },
            )
        )
    try:
        _raise(services, f"ops:{record.target}", rule, conditions)
    except Exception as exc:  # an alert store problem must not turn into a failed operation
        log.warning(
            "could not raise the ops alert %s: %s", rule, exc, extra={"action": "ops_alert"}
        )


def capacity_checked(services: Services, report: dict[str, Any]) -> None:
    """Open or resolve "ops:capacity" from a capacity report."""
    from pgwarden.alerts import Condition

    db = report["database"]
    conditions = []
    if db["alert"]:
        conditions.append(
            Condition(
                rule="ops:capacity",
                kind="issue",
                title=f"database {db['object']} reaches its limit in {db['days_to_limit']} days",
                issue_severity="high",
                explanation={
                    **db,
                    "limit_source": report["limit_source"],
                    "recommendation": "free space, or archive / drop old partitions",
                },
            )
        )
    try:
        _raise(services, f"ops:{db['object']}", "ops:capacity", conditions)
    except Exception as exc:
        log.warning("could not raise the capacity alert: %s", exc, extra={"action": "ops_alert"})
