"""The operations' procrastinate tasks, each periodic on the cron of its config key.

Schedules are read when the worker starts. Every task goes through the ops
runner, so a second worker's copy of a job finds the advisory lock taken
and records a SKIPPED run instead of waiting. A failure is already in the
run record: it is logged here and not retried (the next schedule retries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgwarden.errors import PgwardenError

if TYPE_CHECKING:
    import procrastinate

    from pgwarden.services import Services

log = logging.getLogger(__name__)

QUEUE = "maintenance"
#: task name -> (cron config key, what it runs)
TASKS: dict[str, str] = {
    "pgwarden.ops.backup": "ops.backup_cron",
    "pgwarden.ops.verify": "ops.verify_cron",
    "pgwarden.ops.prune": "ops.prune_cron",
    "pgwarden.ops.retention": "ops.retention_cron",
    "pgwarden.ops.mask": "ops.mask_cron",
    "pgwarden.ops.analyze": "ops.analyze_cron",
    "pgwarden.ops.reindex": "ops.reindex_cron",
    "pgwarden.ops.capacity": "ops.capacity_cron",
    "pgwarden.ops.pitr_check": "ops.pitr_check_cron",
    "pgwarden.ops.pitr_drill": "ops.pitr_drill_cron",
}


def operations(services: Services) -> dict[str, Callable[[], Any]]:
    """What each task does; also what the API defers."""
    from pgwarden.ops import capacity, lifecycle, maintenance, pitr, prune, verify

    def when_pitr(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            if not services.config.get("ops.pgbackrest_stanza"):
                return None  # PITR not configured: nothing to check
            return fn()

        return run

    def sample_and_check() -> None:
        from pgwarden.ops.alerting import capacity_checked

        capacity.sample_sizes(services)
        capacity_checked(services, capacity.capacity_report(services, sample=False))

    def analyze_and_settings() -> None:
        maintenance.apply_autovacuum(services)
        maintenance.analyze(services)

    return {
        "pgwarden.ops.backup": lambda: verify.backup_then_verify(services),
        "pgwarden.ops.verify": lambda: verify.monthly_verification(services),
        "pgwarden.ops.prune": lambda: prune.prune(services),
        "pgwarden.ops.retention": lambda: lifecycle.run_policies(services, "retention"),
        "pgwarden.ops.mask": lambda: lifecycle.run_policies(services, "mask"),
        "pgwarden.ops.analyze": analyze_and_settings,
        "pgwarden.ops.reindex": lambda: maintenance.reindex(services),
        "pgwarden.ops.capacity": sample_and_check,
        "pgwarden.ops.pitr_check": when_pitr(lambda: pitr.check(services)),
        "pgwarden.ops.pitr_drill": when_pitr(
            lambda: pitr.drill(services, port=int(services.config.get("ops.pitr_drill_port")))
        ),
    }


def register_ops_tasks(app: procrastinate.App, services: Services) -> None:
    cfg = services.config
    for name, cron_key in TASKS.items():
        _register(app, services, name, str(cfg.get(cron_key)))


def _register(app: procrastinate.App, services: Services, name: str, cron: str) -> None:
    periodic_id = name.rsplit(".", 1)[-1]

    @app.periodic(cron=cron, periodic_id=f"ops_{periodic_id}")
    @app.task(name=name, queue=QUEUE, queueing_lock=name)
    def task(timestamp: int | None = None) -> None:
        try:
            operations(services)[name]()
        except PgwardenError as exc:
            # recorded as a FAILED run already; the next schedule tries again
            log.warning("%s failed: %s", name, exc, extra={"action": "ops_task", "task": name})
