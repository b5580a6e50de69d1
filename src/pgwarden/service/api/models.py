"""/api/models: the registry, the graph, promotions and shadow comparisons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from pgwarden import models
from pgwarden.clock import parse_since
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.service.http import plain, services_of

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", dependencies=[Depends(require_read)])
def list_models(request: Request) -> Any:
    return plain(models.list_models(services_of(request)))


@router.get("/graph", dependencies=[Depends(require_read)])
def model_graph(request: Request, fmt: str = Query("json", alias="format")) -> Any:
    g = models.graph(services_of(request))
    if fmt == "dot":
        return {"format": "dot", "text": g.to_dot()}
    if fmt == "mermaid":
        return {"format": "mermaid", "text": g.to_mermaid()}
    return plain(g)


class VersionAction(BaseModel):
    version: str
    reason: str | None = None
    force: bool = False
    who: str | None = None


@router.post("/{model_id}/promote", dependencies=[Depends(require_write)])
def promote(request: Request, model_id: str, body: VersionAction) -> Any:
    return plain(
        models.promote(
            services_of(request),
            model_id,
            body.version,
            who=body.who or "api",
            reason=body.reason,
            force=body.force,
        )
    )


@router.post("/{model_id}/archive", dependencies=[Depends(require_write)])
def archive(request: Request, model_id: str, body: VersionAction) -> Any:
    return plain(
        models.archive(
            services_of(request), model_id, body.version, who=body.who or "api", reason=body.reason
        )
    )


@router.post("/{model_id}/rollback", dependencies=[Depends(require_write)])
def rollback(request: Request, model_id: str, body: VersionAction) -> Any:
    return plain(
        models.rollback(
            services_of(request), model_id, body.version, who=body.who or "api", reason=body.reason
        )
    )


@router.get("/{model_id}/compare", dependencies=[Depends(require_read)])
def compare(request: Request, model_id: str, since: str = "7d") -> Any:
    return plain(models.compare(services_of(request), model_id, parse_since(since)))
