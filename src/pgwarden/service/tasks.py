"""The one place where pgwarden's procrastinate tasks and schedules are registered.

Each feature exposes a plain function; here it becomes a task, and a periodic
one where a config key names its cron. Schedules are read when the App is
built (at worker start): changing a cron key takes effect on the next start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import procrastinate
from procrastinate import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision

from pgwarden import alerts, partitions
from pgwarden.db.queries import Queries
from pgwarden.health.tasks import register_health_tasks
from pgwarden.ops.tasks import register_ops_tasks
from pgwarden.quality import report as quality_report
from pgwarden.quality import silence
from pgwarden.service import pipeline, sources
from pgwarden.service.handoff import HandoffJobManager
from pgwarden.service.ingest import PROCESS_TASK as PROCESS_BATCH
from pgwarden.service.ingest import QUEUE_PIPELINE
from pgwarden.services import Services

log = logging.getLogger(__name__)

QUEUE_MAINTENANCE = "maintenance"
HEARTBEAT = "pgwarden.heartbeat"
CLEANUP = "pgwarden.cleanup_jobs"
RECOVER = "pgwarden.jobs.recover_stalled"
POLL_SOURCES = "pgwarden.sources.poll"
SILENCE = "pgwarden.quality.silence"
SWEEP = "pgwarden.pipeline.sweep_after_batch"


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

    # -- the pipeline and its sources (service/pipeline.py, service/sources.py) --

    @app.task(
        name=PROCESS_BATCH,
        queue=QUEUE_PIPELINE,
        retry=procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2),
        pass_context=True,
    )
    def process_batch(context: JobContext, batch_id: str) -> None:
        """ingest -> quality -> model DAG -> persist -> alerts, once per batch in effect.

        The batch's closing transaction finishes this job and fetches the
        worker's next one (service/handoff.py); a next batch job is run here
        at once, and so on while the worker has batches in hand.
        """
        manager = context.app.job_manager
        if not isinstance(manager, HandoffJobManager):
            pipeline.process_batch(services, batch_id)
            return
        queues = context.worker_queues
        pipeline.process_batch(
            services,
            batch_id,
            handoff=manager.handoff_for(context.job, queues),
            claimed=manager.take_claim(context.job),
        )
        while (job := manager.next_chained(PROCESS_BATCH)) is not None:
            if not _run_chained(manager, job, queues):
                break

    def _run_chained(manager: HandoffJobManager, job: Job, queues: Any) -> bool:
        """One batch job of a chain, settled as procrastinate would; False when it failed."""
        batch_id = job.task_kwargs.get("batch_id")
        log.debug("job %s (batch %s) run in its predecessor's chain", job.id, batch_id)
        try:
            pipeline.process_batch(
                services,
                str(batch_id),
                handoff=manager.handoff_for(job, queues),
                claimed=manager.take_claim(job),
            )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            job_retry = process_batch.get_retry_exception(exception=exc, job=job)
            decision = job_retry.retry_decision if job_retry else None
            _settle_failed(job, decision)
            log.error(
                "job %s (batch %s) failed%s: %s",
                job.id,
                batch_id,
                ", to retry" if decision else "",
                error,
                extra={"action": "job_error_retry" if decision else "job_error"},
            )
            manager.chained_done(error)
            return False
        manager.chained_done(None)
        return True

    def _settle_failed(job: Job, decision: RetryDecision | None) -> None:
        """What procrastinate's worker does with a failed job: retry it later, or fail it."""
        with services.db.connection() as conn, conn.transaction():
            conn.execute(q["async_commit_local"])  # the job is idempotent: a lost state reruns it
            if decision is None:
                conn.execute(q["fail_own_job"], {"job_id": job.id})
            else:
                conn.execute(
                    q["retry_own_job"],
                    {
                        "job_id": job.id,
                        "retry_at": decision.retry_at,
                        "priority": decision.priority,
                        "queue": decision.queue,
                        "lock": decision.lock,
                    },
                )

    @app.periodic(cron=cfg.get("sources.poll_cron"), periodic_id="poll_sources")
    @app.task(name=POLL_SOURCES, queue=QUEUE_MAINTENANCE, queueing_lock=POLL_SOURCES)
    def poll_sources(timestamp: int | None = None) -> None:
        """Turn inbox-table rows and dropped files into batches."""
        sources.poll_inbox(services)
        sources.poll_folder(services)

    @app.periodic(cron=cfg.get("jobs.recover_cron"), periodic_id="recover_stalled")
    @app.task(name=RECOVER, queue=QUEUE_MAINTENANCE, pass_context=True, queueing_lock=RECOVER)
    async def recover_stalled(context: JobContext, timestamp: int | None = None) -> None:
        """Retry the jobs of workers that stopped beating (SIGKILL, lost machine)."""
        manager = context.app.job_manager
        stalled = await manager.get_stalled_jobs(
            seconds_since_heartbeat=float(cfg.get("jobs.stalled_after"))
        )
        for job in stalled:
            log.warning(
                "retrying job %s (%s) of a stalled worker",
                job.id,
                job.task_name,
                extra={"action": "recover_stalled", "job_id": job.id},
            )
            await manager.retry_job(job)

    # on the recovery schedule: both make good what a lost worker or a failure left undone
    @app.periodic(cron=cfg.get("jobs.recover_cron"), periodic_id="after_batch_sweep")
    @app.task(name=SWEEP, queue=QUEUE_MAINTENANCE, queueing_lock=SWEEP)
    def sweep_after_batch(timestamp: int | None = None) -> None:
        """Run the after-batch step of finished batches that have no record of it."""
        pipeline.sweep_after_batch(services)

    @app.periodic(cron=cfg.get("partitions.maintenance_cron"), periodic_id="partitions")
    @app.task(name="pgwarden.partitions.maintain", queue=QUEUE_MAINTENANCE)
    def maintain_partitions(timestamp: int | None = None) -> None:
        """Partition maintenance by policy; a second worker's run skips on the leader lock."""
        report = partitions.run_maintenance(services)
        log.info(
            "partition maintenance %s: %s",
            report.status,
            report.message,
            extra={"action": "partition_task"},
        )

    @app.periodic(cron=cfg.get("alerts.deliver_cron"), periodic_id="alerts_deliver")
    @app.task(name="pgwarden.alerts.deliver", queue=QUEUE_MAINTENANCE)
    def deliver_alerts(timestamp: int | None = None) -> None:
        """Send pending alert deliveries whose retry time has come (the outbox)."""
        alerts.deliver_pending(services)

    @app.periodic(cron=cfg.get("report.cron"), periodic_id="quality_daily_report")
    @app.task(name="pgwarden.quality.daily_report", queue=QUEUE_MAINTENANCE)
    def quality_daily_report(timestamp: int | None = None) -> None:
        """Write yesterday's quality report (PGWARDEN_TIMEZONE) once, and its HTML if asked."""
        day = quality_report.write_due_report(services)
        if day is not None:
            log.info("quality report for %s written", day, extra={"action": "quality_report"})

    @app.periodic(cron=cfg.get("quality.silence_cron"), periodic_id="quality_silence")
    @app.task(name=SILENCE, queue=QUEUE_MAINTENANCE, queueing_lock=SILENCE)
    def check_silence(timestamp: int | None = None) -> None:
        """Alert on sources silent beyond their learned cadence; resolve when they send again."""
        silence.check_silence(services)

    register_ops_tasks(app, services)  # backups, lifecycle, maintenance (pgwarden.ops)
    register_health_tasks(app, services)  # collection rounds, rules (pgwarden.health)

    @app.periodic(cron=cfg.get("jobs.cleanup_cron"), periodic_id="cleanup")
    @app.task(name=CLEANUP, queue=QUEUE_MAINTENANCE, pass_context=True)
    async def cleanup_jobs(context: JobContext, timestamp: int | None = None) -> None:
        """procrastinate's own clean-up of finished jobs, with the age from config."""
        await context.app.job_manager.delete_old_jobs(
            nb_hours=cfg.get("jobs.cleanup_max_hours"), include_failed=False
        )
        await asyncio.to_thread(pipeline.clear_old_payloads, services)
