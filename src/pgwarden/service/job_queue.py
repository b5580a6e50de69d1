"""The job queue: the procrastinate App on pgwarden's database, with every task registered.

The App is built at run time from a Database and the runtime config, never at
import: periodic schedules come from config keys, and tests build one App per
database.

The App's job manager takes hand-offs from the pipeline task
(`service/handoff.py`): a batch's closing transaction also finishes its job
and fetches the worker's next one.
"""

from __future__ import annotations

import procrastinate

from pgwarden.db.conninfo import session_options, with_options
from pgwarden.service.handoff import HandoffJobManager
from pgwarden.service.tasks import register_tasks
from pgwarden.services import Services

__all__ = ["build_app"]


def build_app(
    services: Services, *, pool_size: int = 4, flush_job_states: bool = True
) -> procrastinate.App:
    """The App on its own connections; `flush_job_states=False` is for a worker.

    A worker's job-state commits (fetch: todo -> doing, finish, retry) need
    not wait for the WAL flush: every task is idempotent, so a state lost to a
    server crash only means the job runs again (a job left `doing` is retried
    by the stalled-job recovery, a batch already DONE is skipped), and a task
    commit that did wait flushes every job state before it. A lone worker was
    waiting for two flushes between every two jobs.
    """
    conninfo = services.db.session_conninfo("pgwarden-jobs")
    if not flush_job_states:
        options = session_options(services.db.schema) + " -c synchronous_commit=off"
        conninfo = with_options(conninfo, options=options)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo,
        min_size=1,
        max_size=max(2, pool_size),
        # psycopg_pool's default is 30 s: a worker whose database was killed
        # waited that long for a connection before it said so
        timeout=services.db.settings.pool_timeout,
    )
    app = procrastinate.App(connector=connector)
    app.job_manager = HandoffJobManager(connector, services.db.schema)
    register_tasks(app, services)
    return app
