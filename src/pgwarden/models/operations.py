"""Operator actions on the registry, each one audited, serialised, idempotent.

Every action is one transaction that locks the model's row (`FOR UPDATE`),
checks the transition, writes the change and one `registry_events` row, and
queues a NOTIFY; after the commit it invalidates this process's cache. Doing
an action twice is harmless: the second call changes nothing and returns
`changed=False`. Edge changes also take a graph-wide transaction lock, so two
edges added at the same time cannot close a cycle together.

Which role/status an action may take a version from and to is the table in
`transitions.py` (pure, tested on its own); each action here asks
`transitions.decide` and raises InvalidTransition with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.db.queries import Queries
from pgwarden.models.base import (
    Role,
    Status,
    check_label,
    check_model_id,
    load_entrypoint,
    params_hash,
)
from pgwarden.models.compare import Gate, compare
from pgwarden.models.errors import (
    CycleWouldForm,
    DependencyInvalid,
    GateFailed,
    InvalidTransition,
    ModelFieldInvalid,
    ModelNotFound,
    ReasonRequired,
    SecondPrimary,
    VersionConflict,
    VersionNotFound,
)
from pgwarden.models.graph import Edge, would_close_cycle
from pgwarden.models.registry import get_registry, notify_changed
from pgwarden.models.transitions import Decision, decide
from pgwarden.models.transitions import rerole as rerole_action
from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperationResult:
    action: str
    model_id: str
    version: str | None
    changed: bool
    event_id: int | None = None
    role: str | None = None
    status: str | None = None
    replaced: str | None = None  # the PRIMARY archived by promote/rollback
    forced: bool = False
    gates: tuple[Gate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gates"] = [asdict(g) for g in self.gates]
        return d


@dataclass(frozen=True)
class _Version:
    id: int
    model_id: str
    version: str
    role: str
    status: str
    params: Mapping[str, Any]
    params_hash: str
    entrypoint: str


class _Tx:
    """One action's transaction: the locked model row and helpers."""

    def __init__(self, services: Services, conn: psycopg.Connection, q: Queries, model: Any):
        self.services = services
        self.conn = conn
        self.q = q
        self.model_id: str = model[0]
        self.enabled: bool = model[2]
        self.changed = False

    def version(self, version: str) -> _Version:
        row = self.conn.execute(
            self.q["get_version"], {"model_id": self.model_id, "version": version}
        ).fetchone()
        if row is None:
            raise VersionNotFound(self.model_id, version)
        return _Version(*row)

    def primary(self) -> tuple[int, str] | None:
        row = self.conn.execute(self.q["active_primary"], {"model_id": self.model_id}).fetchone()
        return (row[0], row[1]) if row else None

    def set_state(self, v: _Version, role: str, status: str) -> None:
        self.conn.execute(self.q["set_version_state"], {"id": v.id, "role": role, "status": status})

    def event(
        self,
        action: str,
        who: str | None,
        reason: str | None,
        v: _Version | None = None,
        to: tuple[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        new: bool = False,
    ) -> int:
        row = self.conn.execute(
            self.q["insert_event"],
            {
                "actor": who or default_actor(),
                "action": action,
                "model_id": self.model_id,
                "version_id": v.id if v else None,
                "version": v.version if v else None,
                "from_role": v.role if v and not new else None,
                "from_status": v.status if v and not new else None,
                "to_role": to[0] if to else None,
                "to_status": to[1] if to else None,
                "reason": reason,
                "details": Jsonb(dict(details or {})),
            },
        ).fetchone()
        notify_changed(self.conn, self.q, self.services.db.schema, self.model_id)
        self.changed = True
        assert row is not None
        return int(row[0])


def _queries(services: Services) -> Queries:
    return Queries("pgwarden.models", services.db.schema)


@contextmanager
def _model_tx(services: Services, model_id: str, *, graph: bool = False) -> Iterator[_Tx]:
    check_model_id(model_id)
    q = _queries(services)
    with services.db.connection() as conn, conn.transaction():
        if graph:
            conn.execute(q["lock_graph"], {"schema": services.db.schema})
        row = conn.execute(q["lock_model"], {"model_id": model_id}).fetchone()
        if row is None:
            raise ModelNotFound(model_id)
        tx = _Tx(services, conn, q, row)
        yield tx
    if tx.changed:
        get_registry(services).invalidate(f"{model_id} changed here")


def _revalidate(v: _Version) -> None:
    """The code and params must still load before a version may run."""
    cls = load_entrypoint(v.entrypoint, model_id=v.model_id, version=v.version)
    cls.validate_params(dict(v.params), model_id=v.model_id, version=v.version)


def _check_role(role: Any, model_id: str) -> str:
    try:
        return Role(str(role).upper()).value
    except ValueError:
        raise ModelFieldInvalid(
            "role", role, "expected PRIMARY, SHADOW or CHALLENGER", model_id=model_id
        ) from None


# -- models and versions ---------------------------------------------------------


def add_model(
    services: Services, model_id: str, description: str = "", who: str | None = None
) -> OperationResult:
    """Create a model (enabled, no versions); unchanged if it exists with this description."""
    check_model_id(model_id)
    q = _queries(services)
    with services.db.connection() as conn, conn.transaction():
        args = {"model_id": model_id, "description": description}
        created = conn.execute(q["insert_model"], args).fetchone()
        row = conn.execute(q["lock_model"], {"model_id": model_id}).fetchone()
        tx = _Tx(services, conn, q, row)
        action, event = "add", None
        if created is not None:
            event = tx.event("add", who, None, details={"description": description})
        elif description and row is not None and row[1] != description:
            conn.execute(q["update_model_description"], args)
            action = "describe"
            event = tx.event("describe", who, None, details={"description": description})
    if tx.changed:
        get_registry(services).invalidate(f"{model_id} added")
    return OperationResult(action, model_id, None, tx.changed, event)


def add_version(
    services: Services,
    model_id: str,
    version: str,
    entrypoint: str,
    params: Mapping[str, Any] | None = None,
    *,
    role: str = "SHADOW",
    who: str | None = None,
) -> OperationResult:
    """Add a DRAFT version after checking its entrypoint and params; idempotent
    for the same entrypoint, params and role, VersionConflict otherwise."""
    check_model_id(model_id)
    check_label(version, "version", model_id=model_id)
    role = _check_role(role, model_id)
    params = dict(params or {})
    cls = load_entrypoint(entrypoint, model_id=model_id, version=version)
    cls.validate_params(params, model_id=model_id, version=version)
    digest = params_hash(params)
    with _model_tx(services, model_id) as tx:
        row = tx.conn.execute(
            tx.q["get_version"], {"model_id": model_id, "version": version}
        ).fetchone()
        if row is not None:
            v = _Version(*row)
            for field, stored, given in (
                ("entrypoint", v.entrypoint, entrypoint),
                ("params", v.params_hash, digest),
            ):
                if stored != given:
                    shown = (v.params, params) if field == "params" else (stored, given)
                    raise VersionConflict(model_id, version, field, *shown)
            if v.status == Status.DRAFT and v.role != role:
                raise VersionConflict(model_id, version, "role", v.role, role)
            return OperationResult("add_version", model_id, version, False, None, v.role, v.status)
        new = tx.conn.execute(
            tx.q["insert_version"],
            {
                "model_id": model_id,
                "version": version,
                "role": role,
                "params": Jsonb(params),
                "params_hash": digest,
                "entrypoint": entrypoint,
            },
        ).fetchone()
        assert new is not None
        v = _Version(new[0], model_id, version, role, "DRAFT", params, digest, entrypoint)
        event = tx.event(
            "add_version", who, None, v, (role, "DRAFT"), {"entrypoint": entrypoint}, new=True
        )
    return OperationResult("add_version", model_id, version, True, event, role, "DRAFT")


def activate(
    services: Services,
    model_id: str,
    version: str,
    who: str | None = None,
    reason: str | None = None,
) -> OperationResult:
    """DRAFT -> ACTIVE in the version's role; a PRIMARY only if the model has none."""
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        step = _decide(tx, v, "activate")
        if not step.changed:
            return OperationResult("activate", model_id, version, False, None, v.role, v.status)
        if v.role == Role.PRIMARY:
            current = tx.primary()
            if current is not None:
                raise SecondPrimary(model_id, version, current[1])
        _revalidate(v)
        tx.set_state(v, step.role, step.status)
        event = tx.event("activate", who, reason, v, (step.role, step.status))
    _log("activate", model_id, version, who)
    return OperationResult("activate", model_id, version, True, event, step.role, step.status)


def promote(
    services: Services,
    model_id: str,
    version: str,
    who: str | None = None,
    reason: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> OperationResult:
    """ACTIVE SHADOW -> PRIMARY, archiving the old PRIMARY in the same transaction.

    The promotion gates (config keys models.gate_*) are checked on the
    comparison over the `models.gate_window` hours before `now` (default:
    `services.clock()`); `force` skips them and needs a reason. Raises
    GateFailed with every failed gate."""
    check_model_id(model_id)
    check_label(version, "version", model_id=model_id)
    if force and not reason:
        raise ReasonRequired(model_id, version, "promote --force")
    # The comparison reads on its own connection, before the transaction.
    window = timedelta(hours=float(services.config.get("models.gate_window")))
    gates: tuple[Gate, ...] = ()
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        if not _decide(tx, v, "promote", force=force).changed:
            return OperationResult("promote", model_id, version, False, None, v.role, v.status)
    try:
        gates = compare(services, model_id, window, now=now).candidate(version).gates
    except KeyError:
        gates = ()
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        step = _decide(tx, v, "promote", force=force)
        if not step.changed:
            return OperationResult("promote", model_id, version, False, None, v.role, v.status)
        failed = [g.describe() for g in gates if g.passed is False]
        if not gates:
            failed = [f"no SHADOW runs of {version!r} in the last {window} to compare"]
        if failed and not force:
            raise GateFailed(model_id, version, failed)
        replaced = _archive_primary(tx) if step.replaces_primary else None
        tx.set_state(v, step.role, step.status)
        event = tx.event(
            "promote",
            who,
            reason,
            v,
            (step.role, step.status),
            {
                "replaced": replaced,
                "forced": force,
                "gates": [asdict(g) for g in gates],
                "failed_gates": failed,
            },
        )
    _log("promote", model_id, version, who, replaced=replaced, forced=force)
    return OperationResult(
        "promote",
        model_id,
        version,
        True,
        event,
        step.role,
        step.status,
        replaced,
        force,
        gates,
    )


def _decide(tx: _Tx, v: _Version, action: str, *, force: bool = False) -> Decision:
    """The transition table's answer for `action` on `v`; InvalidTransition when refused."""
    step = decide(action, v.role, v.status, force=force, enabled=tx.enabled)
    if step.refused is not None:
        raise InvalidTransition(tx.model_id, v.version, action, v.role, v.status, step.refused)
    return step


def _archive_primary(tx: _Tx) -> str | None:
    current = tx.primary()
    if current is None:
        return None
    old = tx.version(current[1])
    tx.set_state(old, old.role, Status.ARCHIVED)
    return old.version


def archive(
    services: Services,
    model_id: str,
    version: str,
    who: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> OperationResult:
    """-> ARCHIVED. The ACTIVE PRIMARY only when the model is disabled, or with
    force and a reason (its dependants are then blocked)."""
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        step = _decide(tx, v, "archive", force=force)
        if not step.changed:
            return OperationResult("archive", model_id, version, False, None, v.role, v.status)
        if v.role == Role.PRIMARY and v.status == Status.ACTIVE and tx.enabled and not reason:
            raise ReasonRequired(model_id, version, "archive --force of the PRIMARY")
        tx.set_state(v, step.role, step.status)
        event = tx.event("archive", who, reason, v, (step.role, step.status), {"forced": force})
    _log("archive", model_id, version, who)
    return OperationResult(
        "archive", model_id, version, True, event, step.role, step.status, forced=force
    )


def rollback(
    services: Services,
    model_id: str,
    version: str,
    who: str | None = None,
    reason: str | None = None,
) -> OperationResult:
    """An ARCHIVED version back to ACTIVE PRIMARY (gates skipped, reason required)."""
    if not reason:
        raise ReasonRequired(model_id, version, "rollback")
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        step = _decide(tx, v, "rollback")
        if not step.changed:
            return OperationResult("rollback", model_id, version, False, None, v.role, v.status)
        _revalidate(v)
        replaced = _archive_primary(tx) if step.replaces_primary else None
        tx.set_state(v, step.role, step.status)
        event = tx.event(
            "rollback", who, reason, v, (step.role, step.status), {"replaced": replaced}
        )
    _log("rollback", model_id, version, who, replaced=replaced)
    return OperationResult(
        "rollback", model_id, version, True, event, step.role, step.status, replaced
    )


def rerole(
    services: Services,
    model_id: str,
    version: str,
    role: str,
    who: str | None = None,
    reason: str | None = None,
) -> OperationResult:
    """Change a role: any for a DRAFT, SHADOW <-> CHALLENGER for an ACTIVE one."""
    role = _check_role(role, model_id)
    with _model_tx(services, model_id) as tx:
        v = tx.version(version)
        step = _decide(tx, v, rerole_action(role))
        if not step.changed:
            return OperationResult("rerole", model_id, version, False, None, v.role, v.status)
        tx.set_state(v, step.role, step.status)
        event = tx.event("rerole", who, reason, v, (step.role, step.status))
    _log("rerole", model_id, version, who)
    return OperationResult("rerole", model_id, version, True, event, step.role, step.status)


def set_enabled(
    services: Services,
    model_id: str,
    enabled: bool,
    who: str | None = None,
    reason: str | None = None,
) -> OperationResult:
    """Enable or disable a model (a disabled model and its dependants do not run)."""
    action = "enable" if enabled else "disable"
    with _model_tx(services, model_id) as tx:
        if tx.enabled == enabled:
            return OperationResult(action, model_id, None, False)
        tx.conn.execute(tx.q["set_enabled"], {"model_id": model_id, "enabled": enabled})
        event = tx.event(action, who, reason)
    _log(action, model_id, None, who)
    return OperationResult(action, model_id, None, True, event)


# -- edges -------------------------------------------------------------------------


def add_dependency(
    services: Services, model_id: str, depends_on: str, input_key: str, who: str | None = None
) -> OperationResult:
    """`model_id` reads `depends_on`'s PRIMARY outputs under `input_key`.

    Refused with the path (CycleWouldForm) when the edge would close a cycle;
    idempotent for the same edge."""
    check_model_id(model_id)
    check_model_id(depends_on, "depends_on")
    check_label(input_key, "input_key", model_id=model_id)
    if model_id == depends_on:
        raise DependencyInvalid(model_id, "depends_on", depends_on, "a model cannot read itself")
    with _model_tx(services, model_id, graph=True) as tx:
        if tx.conn.execute(tx.q["model_exists"], {"model_id": depends_on}).fetchone() is None:
            raise ModelNotFound(depends_on, field="depends_on")
        edges = [Edge(*r) for r in tx.conn.execute(tx.q["all_edges"]).fetchall()]
        for e in edges:
            if e.model_id == model_id and e.input_key == input_key:
                if e.depends_on == depends_on:
                    return OperationResult("add_dependency", model_id, None, False)
                raise DependencyInvalid(
                    model_id, "input_key", input_key, f"already reads model {e.depends_on!r}"
                )
        path = would_close_cycle(edges, model_id, depends_on)
        if path is not None:
            raise CycleWouldForm(model_id, depends_on, path)
        tx.conn.execute(
            tx.q["insert_edge"],
            {"model_id": model_id, "depends_on": depends_on, "input_key": input_key},
        )
        event = tx.event(
            "add_dependency", who, None, details={"depends_on": depends_on, "input_key": input_key}
        )
    _log("add_dependency", model_id, None, who, depends_on=depends_on)
    return OperationResult("add_dependency", model_id, None, True, event)


def remove_dependency(
    services: Services, model_id: str, input_key: str, who: str | None = None
) -> OperationResult:
    """Remove the edge under `input_key`; unchanged when there is none."""
    with _model_tx(services, model_id, graph=True) as tx:
        row = tx.conn.execute(
            tx.q["delete_edge"], {"model_id": model_id, "input_key": input_key}
        ).fetchone()
        if row is None:
            return OperationResult("remove_dependency", model_id, None, False)
        event = tx.event(
            "remove_dependency", who, None, details={"depends_on": row[0], "input_key": input_key}
        )
    return OperationResult("remove_dependency", model_id, None, True, event)


def _log(action: str, model_id: str, version: str | None, who: str | None, **extra: Any) -> None:
    log.info(
        "models: %s %s %s by %s %s",
        action,
        model_id,
        version or "",
        who or default_actor(),
        " ".join(f"{k}={v}" for k, v in extra.items() if v is not None),
        extra={"action": f"models_{action}", "model_id": model_id},
    )
