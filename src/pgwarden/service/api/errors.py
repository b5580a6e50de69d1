"""Errors as JSON that name the field and the value; a body-size limit."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgwarden.errors import (
    ConfigKeyLocalOnly,
    ConfigValueInvalid,
    InputInvalid,
    NotFound,
    PgwardenError,
    UnknownConfigKey,
)


def error_body(message: str, field: str | None = None, value: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message}
    if field is not None:
        err["field"] = field
        err["value"] = value if _jsonable(value) else repr(value)
    return {"error": err}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)  # as the response will be rendered
    except (TypeError, ValueError):
        return False
    return True


def install(app: FastAPI) -> None:
    @app.exception_handler(InputInvalid)
    async def _input(_: Request, exc: InputInvalid) -> JSONResponse:
        return JSONResponse(error_body(str(exc), exc.field, exc.value), status_code=422)

    @app.exception_handler(ConfigValueInvalid)
    async def _config(_: Request, exc: ConfigValueInvalid) -> JSONResponse:
        return JSONResponse(error_body(str(exc), exc.key, exc.value), status_code=422)

    @app.exception_handler(ConfigKeyLocalOnly)
    async def _local_only(_: Request, exc: ConfigKeyLocalOnly) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "key", exc.key), status_code=403)

    @app.exception_handler(NotFound)
    async def _missing(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(error_body(str(exc), exc.kind, exc.name), status_code=404)

    @app.exception_handler(UnknownConfigKey)
    async def _unknown_key(_: Request, exc: UnknownConfigKey) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "key", exc.key), status_code=404)

    @app.exception_handler(PgwardenError)
    async def _ours(_: Request, exc: PgwardenError) -> JSONResponse:
        field = getattr(exc, "field", None)
        value = getattr(exc, "value", None)
        # (every "no such thing" error derives from NotFound: the handler above)
        # the features' invalid-input errors carry field and value: those are 422
        status = 422 if field is not None else 400
        return JSONResponse(error_body(str(exc), field, value), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        msg = f"{field or 'request'}: {first.get('msg', 'invalid')}"
        return JSONResponse(error_body(msg, field, first.get("input")), status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _db_gone(_: Request, exc: Exception) -> JSONResponse:
        # the server is restarting or gone: the client should retry, not see a 500
        return JSONResponse(
            error_body(f"database unavailable ({type(exc).__name__}); retry shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(psycopg.DataError)
    async def _refused_value(_: Request, exc: psycopg.DataError) -> JSONResponse:
        # a value PostgreSQL cannot store (a NUL character in text or jsonb, a
        # number out of range) is the request's fault: a 422 that says so, not a 500
        primary = (exc.diag.message_primary or str(exc).splitlines()[0]).strip()
        if "NUL" not in primary and ("\\u0000" in str(exc) or "0x00" in primary):
            primary += " (a NUL character, \\u0000, which PostgreSQL text cannot hold)"
        return JSONResponse(
            error_body(f"a value of the request that PostgreSQL refuses: {primary}"),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and _is_page(request):
            # a browser on a dashboard page: to the login form, then back here
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )


def _is_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/metrics", "/openapi.json")) or request.method != "GET":
        return False
    return "text/html" in request.headers.get("accept", "")


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, even when chunked."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send, int(value))
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(seen)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge as exc:
            await self._refuse(send, exc.size)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            error_body(
                f"request body of {size} bytes is over the limit of {self.limit} bytes "
                "(PGWARDEN_MAX_BODY_BYTES); split the batch",
                "body",
                size,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
