"""The dashboard's login (a token exchanged for a session cookie) and the API docs,
which follow the read setting like every other read."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from pgwarden.service.api.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    make_session,
    require_read,
    token_ok,
)
from pgwarden.service.http import services_of

router = APIRouter(include_in_schema=False)

_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>pgwarden: sign in</title><meta name="viewport" content="width=device-width">
<style>body{{font:15px system-ui,sans-serif;display:grid;place-items:center;height:90vh}}
form{{display:grid;gap:.6em;min-width:18em}}input{{font:inherit;padding:.4em}}
.err{{color:#b00020}}</style></head><body>
<form method="post" action="/login">
<h1>pgwarden</h1>
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{next}">
{error}<button type="submit">Sign in</button>
<p class="muted">Make a token with <code>pgwarden token new</code>.</p>
</form></body></html>"""


def _safe_next(value: str | None) -> str:
    """Only a path on this server: never another site (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _form(next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="err">{escape(error)}</p>' if error else ""
    return HTMLResponse(_FORM.format(next=escape(next_path), error=shown), status_code=status)


@router.get("/login")
def login_form(next: str | None = None) -> HTMLResponse:
    return _form(_safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange a token for an HttpOnly, SameSite=Strict session cookie (reads only)."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0].strip()
    next_path = _safe_next((fields.get("next") or ["/"])[0])
    if not token or not token_ok(services_of(request), token):
        return _form(next_path, "that token is not valid", status=401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        make_session(request),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/openapi.json", dependencies=[Depends(require_read)])
def openapi(request: Request) -> JSONResponse:
    spec: dict[str, Any] = request.app.openapi()
    return JSONResponse(spec)


@router.get("/docs", dependencies=[Depends(require_read)])
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="pgwarden API")
