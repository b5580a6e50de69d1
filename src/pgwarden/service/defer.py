"""Deferring jobs from outside a worker (CLI, API, demo)."""

from __future__ import annotations

from typing import Any

from pgwarden.service.job_queue import build_app
from pgwarden.services import Services


def defer(services: Services, task_name: str, **kwargs: Any) -> int:
    """Queue one job for `task_name`; returns the job id."""
    app = build_app(services, pool_size=1)
    with app.open():
        return app.configure_task(task_name, allow_unknown=False).defer(**kwargs)
