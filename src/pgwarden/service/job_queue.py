"""The job queue: the procrastinate App on pgwarden's database, with every task registered.

The App is built at run time from a Database and the runtime config, never at
import: periodic schedules come from config keys, and tests build one App per
database.
"""

from __future__ import annotations

import procrastinate

from pgwarden.service.tasks import register_tasks
from pgwarden.services import Services

__all__ = ["build_app"]


def build_app(services: Services, *, pool_size: int = 4) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=services.db.session_conninfo("pgwarden-jobs"),
        min_size=1,
        max_size=max(2, pool_size),
    )
    app = procrastinate.App(connector=connector)
    register_tasks(app, services)
    return app
