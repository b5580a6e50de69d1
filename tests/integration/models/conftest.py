"""Helpers for the models integration tests: register toy models in one call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgwarden.models import activate, add_dependency, add_model, add_version
from tests.unit.models import toy

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def cycle_time(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def register(
    services: Any,
    model_id: str,
    cls: str,
    params: dict | None = None,
    *,
    version: str = "v1",
    role: str = "PRIMARY",
    inputs: dict[str, str] | None = None,
    active: bool = True,
) -> None:
    add_model(services, model_id, who="test")
    add_version(services, model_id, version, f"{toy.HERE}:{cls}", params or {}, role=role, who="t")
    if active:
        activate(services, model_id, version, who="test")
    for key, upstream in (inputs or {}).items():
        add_dependency(services, model_id, upstream, key, who="test")


@pytest.fixture
def fetch(conn):
    def run(sql: str, *args: Any) -> list[tuple]:
        try:
            rows = conn.execute(sql, args or None).fetchall()
        except Exception:
            conn.rollback()
            raise
        conn.commit()
        return rows

    return run


@pytest.fixture
def services(services: Any) -> Any:
    """The session's services with the clock pinned a day after the cycles run
    here, so look-back windows (promotion gates, comparisons) see them whatever
    the machine's date."""
    services.clock = lambda: T0 + timedelta(days=1)
    return services
