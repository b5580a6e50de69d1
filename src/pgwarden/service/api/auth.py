"""Bearer tokens: from PGWARDEN_API_TOKEN, or generated once and stored as a hash.

Write endpoints always need a token; reads need one unless reads are open
(PGWARDEN_API_OPEN_READS; unset: open only while the server listens on
loopback). A browser cannot send a bearer header, so the dashboard's login
form exchanges a token for a session cookie (HttpOnly, SameSite=Strict,
signed with a key of this process) that is good for reads only: writes
always need the header, so a cookie can never be used for a forged write.
/metrics follows the read setting and also takes PGWARDEN_METRICS_TOKEN.
Stored tokens are SHA-256 hashes: the plain token is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from fastapi import HTTPException, Request

from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError
from pgwarden.services import Services
from pgwarden.settings import is_loopback


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(services: Services, name: str = "default") -> str:
    """Make, store (hashed) and return a new token."""
    token = secrets.token_urlsafe(32)
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        conn.execute(q["insert_token"], {"name": name, "sha": token_hash(token)})
    return token


def ensure_token(services: Services) -> str | None:
    """At first start with no configured token: make one and return it (to print once)."""
    if services.db.settings.api_token is not None:
        return None
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["token_count"]).fetchone()
    if row and row[0] > 0:
        return None
    return new_token(services, "generated at first start")


def token_ok(services: Services, presented: str) -> bool:
    configured = services.db.settings.api_token
    if configured is not None and hmac.compare_digest(
        presented.encode(), configured.get_secret_value().encode()
    ):
        return True
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        return conn.execute(q["token_valid"], {"sha": token_hash(presented)}).fetchone() is not None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require_write(request: Request) -> None:
    services: Services = request.app.state.services
    presented = _bearer(request)
    if presented is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token_ok(services, presented):
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})


def check_bind(services: Services, host: str) -> None:
    """Refuse to listen beyond loopback while no token exists (env or stored)."""
    if is_loopback(host) or services.db.settings.api_token is not None:
        return
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["token_count"]).fetchone()
    if not row or row[0] == 0:
        raise PgwardenError(
            f"refusing to listen on {host} (not loopback) without an API token: set "
            "PGWARDEN_API_TOKEN or make one with `pgwarden token new` first"
        )


SESSION_COOKIE = "pgwarden_session"
SESSION_SECONDS = 12 * 3600  # a dashboard login lasts this long


def reads_open(request: Request) -> bool:
    services: Services = request.app.state.services
    return services.db.settings.reads_open(getattr(request.app.state, "bind_host", None))


def _session_key(request: Request) -> bytes:
    key = getattr(request.app.state, "session_key", None)
    if key is None:
        key = request.app.state.session_key = secrets.token_bytes(32)
    return key


def make_session(request: Request, now: float | None = None) -> str:
    """A cookie value: expiry and its HMAC under this process's key."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    mac = hmac.new(_session_key(request), str(expires).encode(), "sha256").hexdigest()
    return f"{expires}.{mac}"


def session_ok(request: Request, now: float | None = None) -> bool:
    value = request.cookies.get(SESSION_COOKIE, "")
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or not mac:
        return False
    good = hmac.new(_session_key(request), expires.encode(), "sha256").hexdigest()
    current = time.time() if now is None else now
    return hmac.compare_digest(good, mac) and int(expires) > current


def require_read(request: Request) -> None:
    if reads_open(request) or session_ok(request):
        return
    require_write(request)


def require_metrics(request: Request) -> None:
    """/metrics: open with open reads, else the metrics token, any API token or a session."""
    services: Services = request.app.state.services
    if reads_open(request) or session_ok(request):
        return
    presented = _bearer(request)
    scrape = services.db.settings.metrics_token
    if (
        presented is not None
        and scrape is not None
        and hmac.compare_digest(presented.encode(), scrape.get_secret_value().encode())
    ):
        return
    require_write(request)
