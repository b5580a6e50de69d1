"""The procrastinate App on pgwarden's database.

The App is built at run time from a Database and the runtime config, never at
import: periodic schedules come from config keys, and tests build one App per
database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgwarden.services import Services

if TYPE_CHECKING:
    import procrastinate

__all__ = ["Services", "build_app"]


def build_app(services: Services, *, pool_size: int = 4) -> procrastinate.App:
    import procrastinate

    from pgwarden.service.tasks import register_tasks

    connector = procrastinate.PsycopgConnector(
        conninfo=services.db.session_conninfo("pgwarden-jobs"),
        min_size=1,
        max_size=max(2, pool_size),
    )
    app = procrastinate.App(connector=connector)
    register_tasks(app, services)
    return app
