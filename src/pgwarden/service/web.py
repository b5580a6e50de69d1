"""The web application: the HTTP API's routers and the dashboard, assembled around a `Services`.

This factory is the one place that knows both sides: the API routers and the
dashboard never import each other. A feature's router is registered by adding
it to `API_ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from pgwarden import __version__
from pgwarden.service.api import (
    alerts,
    batches,
    errors,
    health_routes,
    login,
    models,
    ops_routes,
    partitions,
    quality,
    system,
)
from pgwarden.service.dashboard import router as dashboard_router
from pgwarden.services import Services

#: every API router, in the order they are mounted (one module per feature)
API_ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    batches.router,
    quality.router,
    alerts.router,
    models.router,
    partitions.router,
    ops_routes.router,
    health_routes.router,
    login.router,
)


def create_app(services: Services, *, dashboard: bool = True) -> FastAPI:
    app = FastAPI(
        title="pgwarden",
        version=__version__,
        description="PostgreSQL-native runtime for detection pipelines.",
        # served by api/login.py behind the read setting, like every other read
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    errors.install(app)
    for router in API_ROUTERS:
        app.include_router(router)
    if dashboard:
        app.include_router(dashboard_router)
    app.add_middleware(errors.BodyLimit, limit=services.db.settings.max_body_bytes)
    return app
