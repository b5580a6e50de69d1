"""One process's health state: targets, per-target round state, the snapshot cache.

`HealthRuntime.collect()` runs one round for every target, keeps the
snapshots in memory (what /metrics serves), stores them, stores fresh
pg_stat_statements samples and evaluates the alert rules. A second process
(the API of `pgwarden run` beside workers on other machines) reads the
newest stored snapshot instead: a scrape never queries a target.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden.health import catalog, derive, edge, store
from pgwarden.health import rules as rulebook
from pgwarden.health.families import Limits
from pgwarden.health.snapshot import Snapshot

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=5)  # an in-memory snapshot older than this is re-read
STORED_LOOKBACK = timedelta(hours=1)  # the newest stored snapshot is looked for this far back
STEP_GAP = timedelta(minutes=3)  # rule state older than this is rebuilt from the store
RECENT_IN_FULL = timedelta(minutes=15)  # rebuilt from every snapshot this recent...
BOOTSTRAP_STRIDE = timedelta(minutes=5)  # ...and from one per 5 minutes before that


@dataclass(frozen=True)
class Target:
    name: str
    dsn: str


def _get(config: Any, key: str, default: Any) -> Any:
    try:
        return config.get(key)
    except Exception:  # a config without the key (older schema, tests): the default
        return default


class HealthRuntime:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.states: dict[str, edge.TargetState] = {}
        self.latest: dict[str, Snapshot] = {}
        self.rule_states: dict[str, rulebook.RuleState] = {}
        self.stored_at: dict[str, datetime] = {}
        #: called after every round (the exporter re-renders its text there, not in a scrape)
        self.after_round: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._round_lock = threading.Lock()
        self.scrapes = 0

    # -- configuration --------------------------------------------------

    def cfg(self, key: str, default: Any) -> Any:
        return _get(self.services.config, f"health.{key}", default)

    def targets(self, only: str | None = None) -> list[Target]:
        out: list[Target] = []
        if self.cfg("watch_self", True):
            out.append(Target(store.SELF, self.services.db.conninfo))
        for t in store.list_targets(self.services.db):
            if t["enabled"]:
                out.append(Target(t["name"], t["dsn"]))
        if only is not None:
            out = [t for t in out if t.name == only]
            if not out:
                from pgwarden.errors import NotFound

                raise NotFound("health target", only)
        return out

    def round_config(self) -> edge.RoundConfig:
        return edge.RoundConfig(
            intervals={
                catalog.FAST: 0.0,
                catalog.SLOW: float(self.cfg("slow_interval", 900.0)),
                catalog.STATEMENTS: float(self.cfg("statements_interval", 300.0)),
            },
            statement_timeout=float(self.cfg("statement_timeout", edge.STATEMENT_TIMEOUT)),
            lock_timeout=float(self.cfg("lock_timeout", edge.LOCK_TIMEOUT)),
            condense=derive.Condense(
                top_k_per_parent=int(self.cfg("top_k_per_parent", 3)),
                bloat_min_bytes=float(self.cfg("bloat_min_index_bytes", 1 << 20)),
                large_index_bytes=float(self.cfg("large_index_bytes", 100 << 20)),
            ),
        )

    def limits(self) -> Limits:
        return Limits(
            budget=int(self.cfg("series_budget", 5000)),
            top_k_per_parent=int(self.cfg("top_k_per_parent", 3)),
            statements_top=int(self.cfg("statements_top", 20)),
        )

    def rules(self) -> list[rulebook.Rule]:
        return rulebook.load(self.cfg("rules_path", "") or None)

    # -- rounds ---------------------------------------------------------

    def collect(
        self,
        *,
        only: str | None = None,
        now: datetime | None = None,
        force: bool = False,
        save: bool = True,
        alert: bool = True,
    ) -> list[Snapshot]:
        """One round for every target (or `only`); stores and alerts unless told not to."""
        cfg = self.round_config()
        out: list[Snapshot] = []
        with self._round_lock:
            for target in self.targets(only):
                state = self.states.setdefault(target.name, edge.TargetState())
                before = state.raw.get("statements")
                snap = edge.collect_round(target.name, target.dsn, state, cfg, now=now,
                                             force=force)  # fmt: skip
                with self._lock:
                    self.latest[target.name] = snap
                if save:
                    self._save(snap, state, before, force=force)
                out.append(snap)
        for hook in self.after_round:
            try:
                hook()
            except Exception as exc:
                log.warning("health after-round hook failed: %s: %s", type(exc).__name__, exc)
        if alert and self.cfg("alerts", True):
            for snap in out:
                try:
                    self.raise_alerts(snap.target, now or snap.taken_at, snap)
                except Exception as exc:  # alerts must not stop collection
                    log.warning("health alerts for %s failed: %s: %s", snap.target,
                                type(exc).__name__, exc,
                                extra={"action": "health_alerts_failed"})  # fmt: skip
        return out

    def _save(
        self, snap: Snapshot, state: edge.TargetState, before: Any, *, force: bool = False
    ) -> None:
        """Store the snapshot every `health.store_interval` (fresh statement samples always).

        Rounds in between serve /metrics and step the rules from memory only: a
        minute-by-minute history of every target would cost far more than it tells.
        """
        db = self.services.db
        every = timedelta(seconds=float(self.cfg("store_interval", 300.0)) - 1)
        last = self.stored_at.get(snap.target)
        try:
            # a lock wait or an outage is kept whenever it is seen: reports list them
            notable = not snap.up or any(r.get("blockers") for r in snap.rows("lock_waits"))
            if force or notable or last is None or snap.taken_at - last >= every:
                store.save_snapshot(db, snap)
                self.stored_at[snap.target] = snap.taken_at
            fresh = state.raw.get("statements")
            if fresh is not None and fresh.ok and fresh is not before and fresh.rows:
                store.save_statements(db, snap.target, fresh.taken_at, fresh.rows)
        except Exception as exc:
            log.warning(
                "health snapshot of %s not stored: %s: %s", snap.target, type(exc).__name__, exc,
                extra={"action": "health_store_failed"},
            )  # fmt: skip

    def raise_alerts(
        self, target: str, now: datetime, snap: Snapshot | None = None
    ) -> list[rulebook.Firing]:
        """Step the target's rule state with `snap` (or rebuild it from the store) and raise.

        The state is rebuilt from stored snapshots when this process has none, or
        when its last snapshot is not the one just before `snap` (another worker
        ran the rounds in between): recent ones in full, older ones thinned to
        one per BOOTSTRAP_STRIDE, so a 12 h `for:` window reads ~150 snapshots once,
        not 720 every minute.
        """
        from pgwarden import alerts

        rule_set = self.rules()
        state = self.rule_states.get(target)
        fresh = (
            state is not None
            and state.last is not None
            and snap is not None
            and timedelta(0) < snap.taken_at - state.last.taken_at <= STEP_GAP
        )
        if fresh:
            assert state is not None and snap is not None
            state.step(rule_set, snap)
        else:
            state = rulebook.RuleState()
            db = self.services.db
            since, recent = now - rulebook.window(rule_set), now - RECENT_IN_FULL
            history = store.snapshots_thinned(db, target, since, recent, BOOTSTRAP_STRIDE)
            history += store.snapshots(db, target, recent, now)
            for s in history:
                state.step(rule_set, s)
        self.rule_states[target] = state
        firing = state.firing(rule_set, now)
        conditions = [
            alerts.Condition(
                rule=f"{f.rule.alert}:{f.key}" if f.key else f.rule.alert,
                kind="issue",
                title=f.title(target),
                issue_severity=rulebook.SEVERITIES[f.rule.severity],
                explanation={
                    "rule": f.rule.alert,
                    "key": f.key,
                    "value": f.value,
                    "threshold": f.rule.threshold,
                    "op": f.rule.op,
                    "for": f.rule.for_text,
                    "since": f.since.isoformat(),
                    "recommendation": f.rule.fix,
                    "expr": f.rule.expr,
                },
            )  # fmt: skip
            for f in firing
        ]
        settings = alerts.settings_from(self.services.config)
        with self.services.db.connection() as conn, conn.transaction():
            alerts.raise_alerts(conn, self.services.db.schema, f"health:{target}", None,
                                conditions, now, settings)  # fmt: skip
        return firing

    # -- serving --------------------------------------------------------

    def cached(self, now: datetime | None = None) -> list[Snapshot]:
        """The newest snapshot of every target: from memory, else from the store."""
        now = now or datetime.now(UTC)
        with self._lock:
            fresh = {k: v for k, v in self.latest.items() if now - v.taken_at <= STALE_AFTER}
        if not fresh:
            try:
                stored = store.latest_snapshots(self.services.db, now - STORED_LOOKBACK)
            except Exception as exc:
                log.warning("stored health snapshots unreadable: %s", exc,
                            extra={"action": "health_cache_failed"})  # fmt: skip
                stored = []
            for s in stored:
                fresh.setdefault(s.target, s)
        return [fresh[k] for k in sorted(fresh)]

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.cached())


_runtimes: dict[int, HealthRuntime] = {}


def runtime_for(services: Services) -> HealthRuntime:
    """The process's runtime for these services (one per Services, never global config)."""
    rt = _runtimes.get(id(services))
    if rt is None or rt.services is not services:
        rt = HealthRuntime(services)
        _runtimes[id(services)] = rt
    return rt
