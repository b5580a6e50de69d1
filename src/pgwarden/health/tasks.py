"""The health collection task: periodic on `health.collect_cron` (read at worker start).

Each run is one round for every target: it refreshes the process's snapshot
cache (what /metrics serves in `pgwarden run`), stores the snapshot every
`health.store_interval` and evaluates the alert rules. A failing round is
logged and counted; the next schedule runs again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import procrastinate

    from pgwarden.services import Services

log = logging.getLogger(__name__)

TASK = "pgwarden.health.collect"
QUEUE = "maintenance"


def register_health_tasks(app: procrastinate.App, services: Services) -> None:
    @app.periodic(cron=services.config.get("health.collect_cron"), periodic_id="health_collect")
    @app.task(name=TASK, queue=QUEUE, queueing_lock=TASK)
    def collect_health(timestamp: int | None = None) -> None:
        """One collection round for every health target."""
        if not services.config.get("health.enabled"):
            return
        from pgwarden.health.runtime import runtime_for

        snaps = runtime_for(services).collect()
        down = [s.target for s in snaps if not s.up]
        failed = sum(1 for s in snaps for r in s.results.values() if r.error)
        log.info(
            "health round: %d target(s), %d down, %d collector error(s)",
            len(snaps), len(down), failed, extra={"action": "health_round"},
        )  # fmt: skip
