"""Health of the service itself, workers, runtime config, and /metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from pgwarden.db import migrate
from pgwarden.errors import ConfigKeyLocalOnly
from pgwarden.service.api.auth import require_metrics, require_read, require_write
from pgwarden.service.http import services_of
from pgwarden.service.metrics import registry_for
from pgwarden.service.worker import list_workers

router = APIRouter(tags=["system"])

READY_TIMEOUT = 2.0  # seconds /readyz waits for a connection


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and the schema is at the revision this code needs (readiness)."""
    services = services_of(request)
    try:
        # a short wait: while the database is gone this must say so at once, not
        # after the pool's full timeout
        with services.db.pool.connection(timeout=READY_TIMEOUT) as conn:
            revision = migrate.stored_revision(conn, services.db.schema)
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}, status_code=503
        )
    head = migrate.head()
    if revision != head:
        return JSONResponse(
            {"status": "unavailable", "reason": f"schema at {revision}, needs {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "revision": revision})


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics)])
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(registry_for(services_of(request))), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/api/workers", dependencies=[Depends(require_read)])
def workers(request: Request) -> list[dict[str, Any]]:
    """Every worker: alive, jobs done, failures, last error."""
    return [asdict(w) for w in list_workers(services_of(request))]


@router.get("/api/config", dependencies=[Depends(require_read)])
def list_config(request: Request) -> list[dict[str, Any]]:
    entries = services_of(request).config.entries()
    return [
        {
            "key": e.key,
            "value": e.value,
            "default": e.default,
            "source": e.source,
            "expected": e.expected,
            "description": e.description,
            "problem": e.problem,
        }
        for e in entries
    ]


class ConfigValue(BaseModel):
    value: Any
    who: str | None = None


@router.put("/api/config/{key}", dependencies=[Depends(require_write)])
def set_config(request: Request, key: str, body: ConfigValue) -> dict[str, Any]:
    """Validate and store a runtime key; a bad value is 422 and nothing is written.

    Keys that name files or directories are refused (403): over HTTP they would
    let a token holder point the worker (often root) at any path.
    """
    config = services_of(request).config
    if config.keys[key].path:
        raise ConfigKeyLocalOnly(key)
    value = config.set(key, body.value, who=body.who or "api")
    return {"key": key, "value": config.shown(key, value)}
