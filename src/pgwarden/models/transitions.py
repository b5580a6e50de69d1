"""The lifecycle of a model version as a table: which action takes (role, status) where.

Pure data and one pure function; `operations.py` consults `decide` inside
its transaction, then does what the decision says (write the state, archive
the old PRIMARY) and the checks that need the database (a second PRIMARY,
the promotion gates, a reason for a forced step).

    add version        -> DRAFT (any role)
    activate           DRAFT -> ACTIVE (a PRIMARY only when the model has none)
    promote            ACTIVE SHADOW -> ACTIVE PRIMARY, old PRIMARY -> ARCHIVED;
                       gates must pass, or force with a reason (also for a CHALLENGER)
    archive            DRAFT or ACTIVE SHADOW/CHALLENGER -> ARCHIVED; the ACTIVE
                       PRIMARY only when the model is disabled, or force with a reason
    rollback           ARCHIVED -> ACTIVE PRIMARY, old PRIMARY -> ARCHIVED; reason needed
    rerole             DRAFT: any role; ACTIVE SHADOW <-> CHALLENGER

Everything else is refused with a reason (InvalidTransition).
"""

from __future__ import annotations

from dataclasses import dataclass

from pgwarden.models.base import Role, Status

ANY = "*"  # any role
SAME = "="  # the role stays

PRIMARY, SHADOW, CHALLENGER = Role.PRIMARY.value, Role.SHADOW.value, Role.CHALLENGER.value
DRAFT, ACTIVE, ARCHIVED = Status.DRAFT.value, Status.ACTIVE.value, Status.ARCHIVED.value
ROLES = (PRIMARY, SHADOW, CHALLENGER)

# What a step needs beyond the table (checked by `decide` from its arguments).
FORCE = "force"  # only with force
DISABLED_OR_FORCE = "disabled_or_force"  # only for a disabled model, or with force


@dataclass(frozen=True)
class Move:
    """Where an allowed action takes a version."""

    role: str  # the role after, or SAME
    status: str
    #: the model's ACTIVE PRIMARY becomes ARCHIVED in the same transaction
    replaces_primary: bool = False
    #: FORCE or DISABLED_OR_FORCE, or None
    needs: str | None = None


def rerole(role: str) -> str:
    """The action name of a change to `role` (the table keys each target apart)."""
    return f"rerole to {role}"


#: (action, role, status) -> Move. ANY matches every role. Not listed: refused.
TRANSITIONS: dict[tuple[str, str, str], Move] = {
    ("activate", ANY, DRAFT): Move(SAME, ACTIVE),
    ("promote", SHADOW, ACTIVE): Move(PRIMARY, ACTIVE, replaces_primary=True),
    ("promote", CHALLENGER, ACTIVE): Move(PRIMARY, ACTIVE, replaces_primary=True, needs=FORCE),
    ("archive", ANY, DRAFT): Move(SAME, ARCHIVED),
    ("archive", SHADOW, ACTIVE): Move(SAME, ARCHIVED),
    ("archive", CHALLENGER, ACTIVE): Move(SAME, ARCHIVED),
    ("archive", PRIMARY, ACTIVE): Move(SAME, ARCHIVED, needs=DISABLED_OR_FORCE),
    ("rollback", ANY, ARCHIVED): Move(PRIMARY, ACTIVE, replaces_primary=True),
    **{(rerole(r), ANY, DRAFT): Move(r, DRAFT) for r in ROLES},
    (rerole(CHALLENGER), SHADOW, ACTIVE): Move(CHALLENGER, ACTIVE),
    (rerole(SHADOW), CHALLENGER, ACTIVE): Move(SHADOW, ACTIVE),
}

#: (action) -> (role, status) in which there is nothing left to do (the call is a no-op).
DONE: dict[str, tuple[str, str]] = {
    "activate": (ANY, ACTIVE),
    "promote": (PRIMARY, ACTIVE),
    "archive": (ANY, ARCHIVED),
    "rollback": (PRIMARY, ACTIVE),
    **{rerole(r): (r, ANY) for r in ROLES},
}

# Why a step is refused, for the message (action, status) first, then action.
_WHY = {
    ("activate", ARCHIVED): "use `rollback` for an archived one",
    ("promote", DRAFT): "activate it as SHADOW first",
    ("promote", ARCHIVED): "use `rollback`",
    ("promote", ACTIVE): (
        "a CHALLENGER is a benchmark: `rerole` it to SHADOW first, or --force --reason"
    ),
    ("archive", ACTIVE): (
        "it is the PRIMARY of an enabled model: promote a replacement, "
        "disable the model, or pass --force --reason"
    ),
    ("rollback", None): "only an ARCHIVED version",
    (rerole(PRIMARY), None): "use `promote` to make a version PRIMARY",
    (rerole(SHADOW), None): "an ACTIVE version moves only between SHADOW and CHALLENGER",
    (rerole(CHALLENGER), None): "an ACTIVE version moves only between SHADOW and CHALLENGER",
}


@dataclass(frozen=True)
class Decision:
    """What an action does to a version in (role, status)."""

    changed: bool  # False: nothing to do (already there) or refused
    role: str  # the role and status after the action (unchanged when not `changed`)
    status: str
    replaces_primary: bool = False
    refused: str | None = None  # why the action is not allowed, for InvalidTransition


def _matches(pattern: str, value: str) -> bool:
    return pattern in (ANY, value)


def decide(
    action: str, role: str, status: str, *, force: bool = False, enabled: bool = True
) -> Decision:
    """Pure: the decision for `action` on a version in (`role`, `status`).

    `force` and `enabled` (the model's) answer the table's FORCE and
    DISABLED_OR_FORCE conditions."""
    role, status = str(role), str(status)
    done = DONE.get(action)
    if done is not None and _matches(done[0], role) and _matches(done[1], status):
        return Decision(False, role, status)
    move = TRANSITIONS.get((action, role, status)) or TRANSITIONS.get((action, ANY, status))
    allowed = move is not None and (
        move.needs is None
        or (move.needs == FORCE and force)
        or (move.needs == DISABLED_OR_FORCE and (force or not enabled))
    )
    if move is None or not allowed:
        why = _WHY.get((action, status)) or _WHY.get((action, None)) or "not allowed"
        return Decision(False, role, status, refused=why)
    to_role = role if move.role == SAME else move.role
    return Decision(True, to_role, move.status, move.replaces_primary)
