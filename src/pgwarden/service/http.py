"""What the HTTP API and the dashboard share: the request's Services and JSON-ready values.

Both sides import this module; neither imports the other (the web app
factory, `service/web.py`, assembles them).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from fastapi import Request

from pgwarden.db.queries import Queries
from pgwarden.errors import NotFound
from pgwarden.services import Services


def services_of(request: Request) -> Services:
    """The Services the app was built with (`create_app` puts them on app.state)."""
    return cast(Services, request.app.state.services)


def plain(value: Any) -> Any:
    """Feature results to JSON-ready values (they expose to_dict() or are dataclasses)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def require_known_source(services: Services, source: str | None) -> None:
    """A filter on a source nobody has heard of is a typo: 404, not an empty list."""
    if source is None:
        return
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["source_known"], {"source": source}).fetchone()
    if not (row and row[0]):
        raise NotFound("source", source)
