"""POST/GET /api/batches: ingest asynchronously, then look at what became of it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pgwarden import models, quality
from pgwarden.errors import InputInvalid, NotFound
from pgwarden.service.api.auth import require_read, require_write
from pgwarden.service.http import plain, require_known_source, services_of
from pgwarden.service.ingest import (
    METADATA_FIELDS,
    batch_record,
    batch_records,
    check_jsonl,
    check_metadata,
    encode_records,
    ingest,
    loads,
)
from pgwarden.services import Services

router = APIRouter(prefix="/api/batches", tags=["batches"])

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")


@router.post("", status_code=202, dependencies=[Depends(require_write)])
async def post_batch(
    request: Request,
    source: str | None = Query(None, description="required for JSON lines or a bare list"),
    batch_id: str | None = Query(None, description="your id; re-posting it is a no-op"),
) -> JSONResponse:
    """Accept a batch; processing is asynchronous (poll GET /api/batches/{id}).

    Bodies: `{"source": ..., "records": [...], "metadata": {...}}`, a bare
    JSON list of records with `?source=`, or JSON lines
    (`application/x-ndjson`) with `?source=` and metadata as query parameters.
    """
    body = await request.body()
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    metadata: dict[str, Any] = {
        k: v for k, v in request.query_params.items() if k in METADATA_FIELDS
    }
    if "expected_records" in metadata:
        metadata["expected_records"] = _as_int("expected_records", metadata["expected_records"])
    if ctype in JSONL_TYPES:
        payload = check_jsonl(body)
        fmt = "jsonl"
    else:
        doc = _parse_json(body)
        if isinstance(doc, dict):
            source = doc.get("source", source)
            batch_id = doc.get("batch_id", batch_id)
            metadata = {**metadata, **check_metadata(doc.get("metadata"))}
            if "records" not in doc:
                raise InputInvalid("records", None, "the body has no 'records' list")
            doc = doc["records"]
        payload = encode_records(doc)
        fmt = "jsonl"
    if source is None:
        raise InputInvalid("source", None, "name the source in the body or as ?source=")
    services = services_of(request)
    done = await run_in_threadpool(
        ingest,
        services,
        source,
        payload,
        fmt=fmt,
        metadata=metadata,
        channel="http",
        batch_id=batch_id,
    )
    return JSONResponse(
        {
            "batch_id": done.batch_id,
            "source": done.source,
            "received_at": done.received_at.isoformat(),
            "status": "PENDING" if not done.duplicate else "DUPLICATE",
            "duplicate": done.duplicate,
            "href": f"/api/batches/{done.batch_id}",
        },
        status_code=202,
    )


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputInvalid("body", f"byte {exc.start}", "is not UTF-8") from exc
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise InputInvalid(
            "body",
            text[max(0, exc.pos - 20) : exc.pos + 20],
            f"broken JSON: {exc.msg} at {exc.pos}",
        ) from exc


def _as_int(field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InputInvalid(field, value, "must be a whole number") from exc


@router.get("", dependencies=[Depends(require_read)])
def list_batches(
    request: Request,
    source: str | None = None,
    status: str | None = Query(None, pattern="^(PENDING|PROCESSING|DONE|REJECTED|FAILED)$"),
    since: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    services = services_of(request)
    require_known_source(services, source)
    return batch_records(services, source=source, status=status, since=since, limit=limit)


@router.get("/{batch_id}", dependencies=[Depends(require_read)])
def get_batch(request: Request, batch_id: str) -> dict[str, Any]:
    """The batch's processing record, its quality result and its model runs."""
    services = services_of(request)
    out = batch_record(services, batch_id)
    if out is None:
        raise NotFound("batch", batch_id)
    out["quality"] = _quality_of(services, batch_id)
    out["models"] = _model_runs_of(services, out["cycle_id"])
    return out


def _quality_of(services: Services, batch_id: str) -> Any:
    result = quality.get_batch(services, batch_id)
    if result is None:
        return None
    return plain(result)


def _model_runs_of(services: Services, cycle_id: str | None) -> Any:
    if cycle_id is None:
        return None
    report = models.get_cycle(services, cycle_id)
    return plain(report) if report is not None else None
