"""Build the FastAPI application around a `Services` (no globals)."""

from __future__ import annotations

from fastapi import FastAPI

from pgwarden import __version__
from pgwarden.service.api import batches, errors, features, system
from pgwarden.services import Services


def create_app(services: Services, *, dashboard: bool = True) -> FastAPI:
    app = FastAPI(
        title="pgwarden",
        version=__version__,
        description="PostgreSQL-native runtime for detection pipelines.",
    )
    app.state.services = services
    errors.install(app)
    app.include_router(system.router)
    app.include_router(batches.router)
    app.include_router(features.router)
    if dashboard:
        from pgwarden.service.dashboard import router as dashboard_router

        app.include_router(dashboard_router)
    app.add_middleware(errors.BodyLimit, limit=services.db.settings.max_body_bytes)
    return app
