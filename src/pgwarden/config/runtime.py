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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from pgwarden.config.declare import Key, KeyRegistry
from pgwarden.config.keys import ALL_KEYS
from pgwarden.db.pool import Database, read_alone
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
    found = resolve_stored(keys, stored, last_good)
    return [found.get(key.name) or default_entry(key) for key in keys]


def resolve_stored(
    keys: KeyRegistry, stored: Iterable[StoredValue], last_good: dict[str, Any]
) -> dict[str, ConfigEntry]:
    """Pure: the entries of the keys that have a stored row (`resolve` without the keys at
    their defaults, whose entries say nothing a key does not; a process reads a few keys
    of the hundred and more declared, and builds only what it needs)."""
    by_key = {row.key: row for row in stored}
    found: dict[str, ConfigEntry] = {}
    for key in keys:
        row = by_key.get(key.name)
        if row is None:
            continue
        try:
            value = key.coerce(json.loads(row.raw))
        except (json.JSONDecodeError, ConfigValueInvalid) as exc:
            fallback = last_good.get(key.name, key.default)
            problem = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.expected
            found[key.name] = _entry(
                key, fallback, "invalid", row=row, problem=f"expected {problem}"
            )
            continue
        found[key.name] = _entry(key, value, "database", row=row)
    _enforce_relations(keys, found, last_good)
    return found


def default_entry(key: Key) -> ConfigEntry:
    """The entry of a key with no stored value."""
    return _entry(key, key.default, "default")


def _enforce_relations(
    keys: KeyRegistry, found: dict[str, ConfigEntry], last_good: dict[str, Any]
) -> None:
    """Stored values that together break a relation fall back like an invalid value:
    first to the last good values, then (if those break it too) to the defaults.
    `found` holds the entries of stored keys and is changed in place; a key without one
    has its default."""

    def value(name: str) -> Any:
        entry = found.get(name)
        return keys[name].default if entry is None else entry.value

    for relation in keys.relations:
        if not any(n in found for n in relation.keys):
            continue  # all at their defaults: nothing stored to fall back from
        problem = relation.check({n: value(n) for n in relation.keys})
        if problem is None:
            continue
        for fallback in (lambda n: last_good.get(n, keys[n].default), lambda n: keys[n].default):
            for name in relation.keys:
                entry = found.get(name)
                if (
                    entry is not None
                    and entry.source in ("database", "invalid")
                    and entry.stored is not None
                ):
                    found[name] = replace(
                        entry, value=fallback(name), source="invalid", problem=problem
                    )
            if relation.check({n: value(n) for n in relation.keys}) is None:
                break


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
        self._entries: dict[str, ConfigEntry] = {}  # keys with a stored value only
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

    def entries(self, *, reveal: bool = False) -> list[ConfigEntry]:
        """Every key's effective entry; secrets masked unless `reveal`."""
        self._refresh_if_stale(force=True)
        entries = [self._entries.get(k.name) or default_entry(k) for k in self._keys]
        return entries if reveal else [self._masked(e) for e in entries]

    def shown(self, name: str, value: Any) -> Any:
        """A value of key `name` as it may be shown (a secret masked)."""
        return self._keys[name].shown(value)

    def set(self, name: str, value: Any, who: str | None = None) -> Any:
        """Validate and store; raises ConfigValueInvalid and writes nothing when bad."""
        key = self._keys[name]
        typed = key.coerce(value)
        self._check_relations(key, typed)
        self._write(key.name, typed, who)
        return typed

    def set_text(self, name: str, text: str, who: str | None = None) -> Any:
        key = self._keys[name]
        typed = key.parse_text(text)
        self._check_relations(key, typed)
        self._write(key.name, typed, who)
        return typed

    def reset(self, name: str, who: str | None = None) -> None:
        key = self._keys[name]
        self._check_relations(key, key.default)
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
        """(key, old, new, who, when) rows, newest first; secrets masked."""
        if key is not None:
            key = self._keys[key].name
        with self._db.connection() as conn:
            rows = conn.execute(self._q["history"], {"key": key, "limit": limit}).fetchall()
        out = []
        for k, old, new, *rest in rows:
            if k in self._keys:
                old, new = self._keys[k].shown(old), self._keys[k].shown(new)
            out.append((k, old, new, *rest))
        return out

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    # -- internals --------------------------------------------------------

    def _masked(self, entry: ConfigEntry) -> ConfigEntry:
        key = self._keys[entry.key]
        if not key.secret:
            return entry
        return replace(
            entry,
            value=key.shown(entry.value),
            default=key.shown(entry.default),
            stored=key.shown_text(entry.stored),
        )

    def _check_relations(self, key: Key, typed: Any) -> None:
        relations = self._keys.relations_of(key.name)
        if not relations:
            return
        self._refresh_if_stale(force=True)
        for relation in relations:
            values = {n: typed if n == key.name else self._value(n) for n in relation.keys}
            problem = relation.check(values)
            if problem:
                raise ConfigValueInvalid(key.name, key.shown(typed), f"{key.expected()}; {problem}")

    def _value(self, name: str) -> Any:
        """(after a refresh) The effective value of key `name`."""
        entry = self._entries.get(name)
        return self._keys[name].default if entry is None else entry.value

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
        with self._lock:
            self._last_good[name] = typed  # validated here: good until a better one is read
        self.invalidate()

    @property
    def values_query(self) -> Any:
        """The one read of every stored value, for a caller to send in a round trip of
        its own and hand the rows to `prime`."""
        return self._q["all_values"]

    def prime(self, rows: Sequence[Sequence[Any]]) -> None:
        """Take the stored values as read by the caller (`values_query`): the next `get`s
        within the TTL read nothing (a cron-started partitions run folds the read into
        its first round trip)."""
        with self._lock:
            self._load(rows, self._clock())

    def _refresh_if_stale(self, force: bool = False) -> None:
        now = self._clock()
        with self._lock:
            fresh = self._loaded_at is not None and now - self._loaded_at < self._ttl
            if fresh and not force:
                return
            with self._db.connection() as conn:
                rows = read_alone(conn, self._q["all_values"])
            self._load(rows, now)

    def _load(self, rows: Sequence[Sequence[Any]], now: float) -> None:
        """(under the lock) The entries from the stored values' rows."""
        stored = [StoredValue(r[0], r[1], r[2], r[3]) for r in rows]
        found = resolve_stored(self._keys, stored, self._last_good)
        for entry in found.values():
            if entry.source == "invalid":
                marker = (entry.key, entry.stored or "")
                if marker not in self._warned:
                    self._warned.add(marker)
                    shown = self._masked(entry)
                    log.warning(
                        "config key %s: stored value %s is invalid (%s); keeping %r",
                        entry.key,
                        shown.stored,
                        entry.problem,
                        shown.value,
                        extra={"action": "config_invalid", "key": entry.key},
                    )
            elif entry.source == "database":
                self._last_good[entry.key] = entry.value
        self._entries = found
        self._loaded_at = now
