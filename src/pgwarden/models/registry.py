"""The registry as a cycle sees it: one consistent snapshot, cached, invalidated.

A cycle pins one `Snapshot` (enabled models, ACTIVE versions, edges, read in
one statement) for its whole run, so a promote during a cycle applies to the
next one. The snapshot is served from a TTL cache (config key
`models.active_cache_ttl`, default 300 s). An operator action invalidates it
at once in its own process, and through `NOTIFY` in every process that
called `Registry.listen()`. NOTIFY is not durable: a process that was
disconnected when it was sent sees the change at the latest after the TTL.

Params and model instances are cached by version id with no expiry: params
are immutable once a version leaves DRAFT, so such an entry is never stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import sql

from pgwarden.db.pool import Database
from pgwarden.db.queries import Queries
from pgwarden.models.base import BaseDetectionModel, Role, freeze, load_entrypoint
from pgwarden.models.graph import Edge, NodeState, Plan, plan
from pgwarden.services import Services

log = logging.getLogger(__name__)

DEFAULT_TTL = 300.0  # seconds
LISTEN_POLL = 0.5  # seconds between checks of the stop flag
RECONNECT_DELAY = 2.0  # seconds before the listener reconnects
_ROLE_ORDER = {Role.PRIMARY: 0, Role.SHADOW: 1, Role.CHALLENGER: 2}

T = TypeVar("T")


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    description: str
    enabled: bool


@dataclass(frozen=True)
class VersionSpec:
    id: int
    model_id: str
    version: str
    role: Role
    params: Mapping[str, Any]
    params_hash: str
    entrypoint: str


@dataclass(frozen=True)
class Snapshot:
    """The registry pinned for one cycle."""

    models: Mapping[str, ModelSpec]
    versions: tuple[VersionSpec, ...]  # ACTIVE, by model, PRIMARY then SHADOW then CHALLENGER
    edges: tuple[Edge, ...]
    fingerprint: str

    def versions_of(self, model_id: str) -> tuple[VersionSpec, ...]:
        return tuple(v for v in self.versions if v.model_id == model_id)

    def nodes(self) -> dict[str, NodeState]:
        counts: dict[str, int] = {}
        primaries: set[str] = set()
        for v in self.versions:
            counts[v.model_id] = counts.get(v.model_id, 0) + 1
            if v.role is Role.PRIMARY:
                primaries.add(v.model_id)
        return {
            m: NodeState(spec.enabled, m in primaries, counts.get(m, 0))
            for m, spec in self.models.items()
        }

    def plan(self, *, strict: bool = False) -> Plan:
        return plan(self.nodes(), self.edges, strict=strict)


def fingerprint(
    models: Mapping[str, ModelSpec], versions: tuple[VersionSpec, ...], edges: tuple[Edge, ...]
) -> str:
    """sha256 over what decides a cycle: enabled flags, active versions, params, edges."""
    body = {
        "models": sorted([m.model_id, m.enabled] for m in models.values()),
        "versions": sorted(
            [v.id, v.model_id, v.role.value, v.params_hash, v.entrypoint] for v in versions
        ),
        "edges": sorted([e.model_id, e.depends_on, e.input_key] for e in edges),
    }
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def snapshot_from_rows(models: list[Any], versions: list[Any], edges: list[Any]) -> Snapshot:
    """Pure: build a Snapshot from the rows of the one-statement read."""
    specs = {m[0]: ModelSpec(m[0], m[1] or "", bool(m[2])) for m in models}
    vers = tuple(
        sorted(
            (
                VersionSpec(
                    id=int(v[0]),
                    model_id=v[1],
                    version=v[2],
                    role=Role(v[3]),
                    params=freeze(v[4] or {}),
                    params_hash=v[5],
                    entrypoint=v[6],
                )
                for v in versions
            ),
            key=lambda v: (v.model_id, _ROLE_ORDER[v.role], v.id),
        )
    )
    edge_t = tuple(sorted(Edge(e[0], e[1], e[2]) for e in edges))
    return Snapshot(specs, vers, edge_t, fingerprint(specs, vers, edge_t))


def read_snapshot(conn: psycopg.Connection, queries: Queries) -> Snapshot:
    row = conn.execute(queries["snapshot"]).fetchone()
    assert row is not None
    return snapshot_from_rows(row[0], row[1], row[2])


class TtlCache(Generic[T]):
    """One value, reloaded when older than the TTL or after `invalidate()`.

    The clock is injected (monotonic seconds) so expiry is tested without
    sleeping; the TTL may be a callable so a hot-reloaded config key applies.
    """

    def __init__(
        self,
        loader: Callable[[Any], T],
        ttl: float | Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at: float | None = None
        self.loads = 0
        self.invalidations = 0

    def ttl(self) -> float:
        return float(self._ttl() if callable(self._ttl) else self._ttl)

    def get(self, arg: Any = None, *, fresh: bool = False) -> T:
        with self._lock:
            now = self._clock()
            if (
                fresh
                or self._value is None
                or self._loaded_at is None
                or now - self._loaded_at >= self.ttl()
            ):
                self._value = self._loader(arg)
                self._loaded_at = now
                self.loads += 1
            return self._value

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None
            self.invalidations += 1

    @property
    def is_fresh(self) -> bool:
        with self._lock:
            return self._loaded_at is not None and self._clock() - self._loaded_at < self.ttl()


def channel_name(schema: str) -> str:
    """The NOTIFY channel of one schema's registry (≤63 bytes, an identifier)."""
    return f"registry_changed.{schema}"[:63]


class Registry:
    """The ACTIVE-set cache, the per-version model cache and the change listener."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: float | Callable[[], float] = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.schema = db.schema
        self.queries = Queries("pgwarden.models", db.schema)
        self.channel = channel_name(db.schema)
        self._cache: TtlCache[Snapshot] = TtlCache(self._load, ttl, clock)
        self._models: dict[int, BaseDetectionModel] = {}
        self._models_lock = threading.Lock()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the ACTIVE set -----------------------------------------------------

    def _load(self, conn: psycopg.Connection | None) -> Snapshot:
        if conn is not None:
            return read_snapshot(conn, self.queries)
        with self._db.connection() as own:
            return read_snapshot(own, self.queries)

    def snapshot(self, conn: psycopg.Connection | None = None, *, fresh: bool = False) -> Snapshot:
        """The cached snapshot, reloaded (on `conn` if given) when stale or invalidated."""
        return self._cache.get(conn, fresh=fresh)

    def invalidate(self, why: str = "") -> None:
        self._cache.invalidate()
        log.debug("registry cache invalidated (%s)", why, extra={"action": "registry_invalidate"})

    @property
    def cache(self) -> TtlCache[Snapshot]:
        return self._cache

    # -- model instances, by version id --------------------------------------

    def model_for(self, v: VersionSpec) -> BaseDetectionModel:
        """The instance for a version, built once (params are immutable per version)."""
        with self._models_lock:
            found = self._models.get(v.id)
        if found is not None:
            return found
        cls = load_entrypoint(v.entrypoint, model_id=v.model_id, version=v.version)
        instance = cls(dict(_thaw(v.params)), model_id=v.model_id, version=v.version)
        with self._models_lock:
            return self._models.setdefault(v.id, instance)

    # -- LISTEN in a thread of its own --------------------------------------

    def listen(self, *, wait: float = 5.0) -> None:
        """Start the listener thread (idempotent); returns once it listens or after `wait` s."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen_loop, name=f"pgwarden-registry-{self.schema}", daemon=True
        )
        self._thread.start()
        self._listening.wait(wait)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._listening.clear()

    def _listen_loop(self) -> None:
        conninfo = self._db.session_conninfo("pgwarden-registry-listener")
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    # Anything sent while we were not listening is lost: start clean.
                    self.invalidate("listener (re)connected")
                    self._listening.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=LISTEN_POLL):
                            self.invalidate(f"notify {note.payload}")
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning(
                    "registry listener lost its connection (%s); retrying in %.1f s",
                    type(exc).__name__,
                    RECONNECT_DELAY,
                    extra={"action": "registry_listen_error"},
                )
                self._stop.wait(RECONNECT_DELAY)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def notify_changed(conn: psycopg.Connection, queries: Queries, schema: str, model_id: str) -> None:
    """Queue the change notice in the current transaction; sent at commit."""
    conn.execute(queries["notify"], {"channel": channel_name(schema), "payload": model_id})


_REGISTRIES: dict[int, Registry] = {}
_REGISTRIES_LOCK = threading.Lock()


def get_registry(services: Services) -> Registry:
    """The process's Registry for this database (one per `Database`, so an
    operator action here invalidates the very cache the cycles read)."""
    db = services.db
    key = id(db)
    with _REGISTRIES_LOCK:
        found = _REGISTRIES.get(key)
        if found is None:
            config = services.config

            def ttl() -> float:
                return float(config.get("models.active_cache_ttl"))

            found = Registry(db, ttl=ttl)
            _REGISTRIES[key] = found
            weakref.finalize(db, _forget, key)
        return found


def _forget(key: int) -> None:
    with _REGISTRIES_LOCK:
        reg = _REGISTRIES.pop(key, None)
    if reg is not None:
        reg.close()
