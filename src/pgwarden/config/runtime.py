"""Runtime config: typed keys stored in system_config, hot-reloaded through a TTL cache.

A change made with `pgwarden config set`, the API or plain SQL is seen by
every process within the TTL. A stored value that does not fit its
declaration is reported once and the last good value (or the default) stays
in force, so a typo in SQL never takes a running service down.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from pgwarden.config.declare import Key, KeyRegistry
from pgwarden.config.keys import ALL_KEYS
from pgwarden.db.pool import Database
from pgwarden.db.queries import Queries
from pgwarden.errors import ConfigValueInvalid

log = logging.getLogger(__name__)

DEFAULT_TTL = 5.0  # seconds


@dataclass(frozen=True)
class StoredValue:
    key: str
    raw: str  # JSON text as stored
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class ConfigEntry:
    key: str
    value: Any
    default: Any
    source: str  # "default", "database", "invalid"
    description: str
    expected: str
    stored: str | None = None
    problem: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


def resolve(
    keys: KeyRegistry, stored: Iterable[StoredValue], last_good: dict[str, Any]
) -> list[ConfigEntry]:
    """Pure: the effective value of every key, given stored rows and the last good values."""
    by_key = {row.key: row for row in stored}
    entries = []
    for key in keys:
        row = by_key.get(key.name)
        if row is None:
            entries.append(_entry(key, key.default, "default"))
            continue
        try:
            value = key.coerce(json.loads(row.raw))
        except (json.JSONDecodeError, ConfigValueInvalid) as exc:
            fallback = last_good.get(key.name, key.default)
            problem = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.expected
            entries.append(_entry(key, fallback, "invalid", row=row, problem=f"expected {problem}"))
            continue
        entries.append(_entry(key, value, "database", row=row))
    return entries


def _entry(
    key: Key, value: Any, source: str, row: StoredValue | None = None, problem: str | None = None
) -> ConfigEntry:
    return ConfigEntry(
        key=key.name,
        value=value,
        default=key.default,
        source=source,
        description=key.description,
        expected=key.expected(),
        stored=row.raw if row else None,
        problem=problem,
        updated_at=row.updated_at if row else None,
        updated_by=row.updated_by if row else None,
    )


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class RuntimeConfig:
    """Read and write runtime config; `get` is cheap (a dict lookup within the TTL)."""

    def __init__(
        self,
        db: Database,
        keys: KeyRegistry = ALL_KEYS,
        *,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._keys = keys
        self._ttl = db.settings.config_ttl if ttl is None else ttl
        self._clock = clock
        self._q = Queries("pgwarden.config", db.schema)
        self._lock = threading.Lock()
        self._entries: dict[str, ConfigEntry] = {}
        self._loaded_at: float | None = None
        self._last_good: dict[str, Any] = {}
        self._warned: set[tuple[str, str]] = set()

    @property
    def keys(self) -> KeyRegistry:
        return self._keys

    def get(self, name: str) -> Any:
        key = self._keys[name]  # raises UnknownConfigKey
        self._refresh_if_stale()
        entry = self._entries.get(key.name)
        return key.default if entry is None else entry.value

    def entries(self) -> list[ConfigEntry]:
        self._refresh_if_stale(force=True)
        return [self._entries[k.name] for k in self._keys]

    def set(self, name: str, value: Any, who: str | None = None) -> Any:
        """Validate and store; raises ConfigValueInvalid and writes nothing when bad."""
        key = self._keys[name]
        typed = key.coerce(value)
        self._write(key.name, typed, who)
        return typed

    def set_text(self, name: str, text: str, who: str | None = None) -> Any:
        key = self._keys[name]
        typed = key.parse_text(text)
        self._write(key.name, typed, who)
        return typed

    def reset(self, name: str, who: str | None = None) -> None:
        key = self._keys[name]
        with self._db.connection() as conn, conn.transaction():
            old = conn.execute(self._q["lock_value"], {"key": key.name}).fetchone()
            if old is None:
                return
            conn.execute(self._q["delete_value"], {"key": key.name})
            conn.execute(
                self._q["record_history"],
                {"key": key.name, "old": Jsonb(old[0]), "new": None, "who": who or default_actor()},
            )
        self.invalidate()

    def history(self, key: str | None = None, limit: int = 50) -> list[tuple[Any, ...]]:
        if key is not None:
            key = self._keys[key].name
        with self._db.connection() as conn:
            return conn.execute(self._q["history"], {"key": key, "limit": limit}).fetchall()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    # -- internals --------------------------------------------------------

    def _write(self, name: str, typed: Any, who: str | None) -> None:
        with self._db.connection() as conn, conn.transaction():
            old = conn.execute(self._q["lock_value"], {"key": name}).fetchone()
            conn.execute(
                self._q["upsert_value"],
                {"key": name, "value": Jsonb(typed), "who": who or default_actor()},
            )
            conn.execute(
                self._q["record_history"],
                {
                    "key": name,
                    "old": Jsonb(old[0]) if old else None,
                    "new": Jsonb(typed),
                    "who": who or default_actor(),
                },
            )
        self.invalidate()

    def _refresh_if_stale(self, force: bool = False) -> None:
        now = self._clock()
        with self._lock:
            fresh = self._loaded_at is not None and now - self._loaded_at < self._ttl
            if fresh and not force:
                return
            with self._db.connection() as conn:
                rows = conn.execute(self._q["all_values"]).fetchall()
            stored = [StoredValue(r[0], r[1], r[2], r[3]) for r in rows]
            entries = resolve(self._keys, stored, self._last_good)
            for entry in entries:
                if entry.source == "invalid":
                    marker = (entry.key, entry.stored or "")
                    if marker not in self._warned:
                        self._warned.add(marker)
                        log.warning(
                            "config key %s: stored value %s is invalid (%s); keeping %r",
                            entry.key,
                            entry.stored,
                            entry.problem,
                            entry.value,
                            extra={"action": "config_invalid", "key": entry.key},
                        )
                elif entry.source == "database":
                    self._last_good[entry.key] = entry.value
            self._entries = {e.key: e for e in entries}
            self._loaded_at = now
