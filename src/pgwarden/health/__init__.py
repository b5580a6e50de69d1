"""Database health: collectors over pg_stat_*, /metrics, alert rules, checks and reports.

Public functions (the service, CLI and dashboard call these):

- `runtime_for(services)` -> the process's HealthRuntime (collect, cached snapshots)
- `collect(services, target=None, force=False)` -> one round, stored and alerted
- `register_metrics(registry, services)` -> adds the /metrics collector
- `snapshot_for(services, target)` -> a fresh snapshot (collected now, not stored)
- `locks`, `indexes`, `tables`, `statements` -> plain dicts for the CLI and API
- `checklist(services, target)` -> the daily checklist (pass / warn / fail)
"""

from __future__ import annotations

from pgwarden.health.api import (
    checklist,
    collect,
    indexes,
    locks,
    register_metrics,
    snapshot_for,
    statements,
    summary_line,
    tables,
)
from pgwarden.health.runtime import HealthRuntime, runtime_for

__all__ = [
    "HealthRuntime",
    "checklist",
    "collect",
    "indexes",
    "locks",
    "register_metrics",
    "runtime_for",
    "snapshot_for",
    "statements",
    "summary_line",
    "tables",
]
