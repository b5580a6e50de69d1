"""The version lifecycle table (pure): every (action, role, status) has one answer."""

from __future__ import annotations

import itertools

import pytest

from pgwarden.models.transitions import (
    ACTIVE,
    ARCHIVED,
    CHALLENGER,
    DRAFT,
    PRIMARY,
    ROLES,
    SHADOW,
    decide,
    rerole,
)

STATUSES = (DRAFT, ACTIVE, ARCHIVED)
ACTIONS = ("activate", "promote", "archive", "rollback", *(rerole(r) for r in ROLES))


@pytest.mark.parametrize(
    ("action", "role", "status", "force", "enabled", "after"),
    [
        ("activate", SHADOW, DRAFT, False, True, (SHADOW, ACTIVE)),
        ("activate", PRIMARY, DRAFT, False, True, (PRIMARY, ACTIVE)),
        ("promote", SHADOW, ACTIVE, False, True, (PRIMARY, ACTIVE)),
        ("promote", CHALLENGER, ACTIVE, True, True, (PRIMARY, ACTIVE)),
        ("archive", CHALLENGER, DRAFT, False, True, (CHALLENGER, ARCHIVED)),
        ("archive", SHADOW, ACTIVE, False, True, (SHADOW, ARCHIVED)),
        ("archive", PRIMARY, ACTIVE, False, False, (PRIMARY, ARCHIVED)),
        ("archive", PRIMARY, ACTIVE, True, True, (PRIMARY, ARCHIVED)),
        ("rollback", SHADOW, ARCHIVED, False, True, (PRIMARY, ACTIVE)),
        (rerole(PRIMARY), SHADOW, DRAFT, False, True, (PRIMARY, DRAFT)),
        (rerole(CHALLENGER), SHADOW, ACTIVE, False, True, (CHALLENGER, ACTIVE)),
        (rerole(SHADOW), CHALLENGER, ACTIVE, False, True, (SHADOW, ACTIVE)),
    ],
)
def test_allowed_steps(action, role, status, force, enabled, after):
    step = decide(action, role, status, force=force, enabled=enabled)
    assert step.changed and step.refused is None
    assert (step.role, step.status) == after
    assert step.replaces_primary == (action in ("promote", "rollback"))


@pytest.mark.parametrize(
    ("action", "role", "status"),
    [
        ("activate", SHADOW, ACTIVE),
        ("promote", PRIMARY, ACTIVE),
        ("archive", PRIMARY, ARCHIVED),
        ("rollback", PRIMARY, ACTIVE),
        (rerole(SHADOW), SHADOW, ARCHIVED),
    ],
)
def test_a_step_already_taken_changes_nothing(action, role, status):
    step = decide(action, role, status)
    assert not step.changed and step.refused is None and (step.role, step.status) == (role, status)


@pytest.mark.parametrize(
    ("action", "role", "status", "force", "enabled", "why"),
    [
        ("activate", SHADOW, ARCHIVED, False, True, "rollback"),
        ("promote", SHADOW, DRAFT, False, True, "activate it as SHADOW first"),
        ("promote", SHADOW, ARCHIVED, True, True, "use `rollback`"),
        ("promote", CHALLENGER, ACTIVE, False, True, "a CHALLENGER is a benchmark"),
        ("archive", PRIMARY, ACTIVE, False, True, "PRIMARY of an enabled model"),
        ("rollback", SHADOW, ACTIVE, False, True, "only an ARCHIVED version"),
        (rerole(PRIMARY), SHADOW, ACTIVE, False, True, "use `promote`"),
        (rerole(SHADOW), PRIMARY, ACTIVE, False, True, "between SHADOW and CHALLENGER"),
        (rerole(CHALLENGER), SHADOW, ARCHIVED, False, True, "between SHADOW and CHALLENGER"),
    ],
)
def test_refused_steps_say_why(action, role, status, force, enabled, why):
    step = decide(action, role, status, force=force, enabled=enabled)
    assert not step.changed and step.refused is not None and why in step.refused


def test_every_combination_has_one_answer_and_no_step_makes_a_second_kind_of_state():
    for action, role, status, force, enabled in itertools.product(
        ACTIONS, ROLES, STATUSES, (False, True), (False, True)
    ):
        step = decide(action, role, status, force=force, enabled=enabled)
        assert step.role in ROLES and step.status in STATUSES
        if step.changed:
            assert step.refused is None and (step.role, step.status) != (role, status)
            # only promote and rollback make a PRIMARY ACTIVE, and they replace the old one
            if (step.role, step.status) == (PRIMARY, ACTIVE) and action != "activate":
                assert step.replaces_primary
