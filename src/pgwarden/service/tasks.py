"""The one place where pgwarden's procrastinate tasks and schedules are registered.

Each feature exposes a plain function; here it becomes a task, and a periodic
one where a config key names its cron. Schedules are read when the App is
built (at worker start): changing a cron key takes effect on the next start.
"""

from __future__ import annotations

import logging

import procrastinate
from procrastinate import JobContext

from pgwarden.db.queries import Queries
from pgwarden.service.app import Services

log = logging.getLogger(__name__)

QUEUE_MAINTENANCE = "maintenance"
HEARTBEAT = "pgwarden.heartbeat"
CLEANUP = "pgwarden.cleanup_jobs"


def register_tasks(app: procrastinate.App, services: Services) -> None:
    q = Queries("pgwarden.service", services.db.schema)
    cfg = services.config

    @app.periodic(cron=cfg.get("jobs.heartbeat_cron"), periodic_id="heartbeat")
    @app.task(name=HEARTBEAT, queue=QUEUE_MAINTENANCE, pass_context=True)
    def heartbeat(context: JobContext, timestamp: int | None = None) -> None:
        """Record that a worker ran a job: liveness seen from the database."""
        worker = context.additional_context.get("pgwarden_worker") or context.worker_name
        with services.db.connection() as conn:
            conn.execute(q["record_heartbeat"], {"worker": worker or "unknown"})

    @app.periodic(cron=cfg.get("jobs.cleanup_cron"), periodic_id="cleanup")
    @app.task(name=CLEANUP, queue=QUEUE_MAINTENANCE, pass_context=True)
    async def cleanup_jobs(context: JobContext, timestamp: int | None = None) -> None:
        """procrastinate's own clean-up of finished jobs, with the age from config."""
        await context.app.job_manager.delete_old_jobs(
            nb_hours=cfg.get("jobs.cleanup_max_hours"), include_failed=False
        )
