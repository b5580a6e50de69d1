"""Bearer tokens: from PGWARDEN_API_TOKEN, or generated once and stored as a hash.

Write endpoints always need a token; reads need one unless
PGWARDEN_API_OPEN_READS is true. Stored tokens are SHA-256 hashes: the
plain token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request

from pgwarden.db.queries import Queries
from pgwarden.services import Services


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


def require_read(request: Request) -> None:
    services: Services = request.app.state.services
    if services.db.settings.api_open_reads:
        return
    require_write(request)
