"""Operator actions on the real server: transitions, audit, bad input, idempotence."""

from __future__ import annotations

import psycopg
import pytest

from pgwarden.models import (
    activate,
    add_dependency,
    add_model,
    add_version,
    archive,
    graph,
    promote,
    rerole,
    rollback,
    run_cycle,
    set_enabled,
)
from pgwarden.models.errors import (
    CycleWouldForm,
    DependencyInvalid,
    EntrypointInvalid,
    GateFailed,
    InvalidTransition,
    ModelFieldInvalid,
    ModelNotFound,
    ParamsInvalid,
    ReasonRequired,
    SecondPrimary,
    VersionConflict,
)
from tests.integration.models.conftest import cycle_time, register
from tests.unit.models import toy

CONST = f"{toy.HERE}:Const"


def state(fetch, model_id="m"):
    return fetch("SELECT version, role, status FROM detection_model_versions "
                 "WHERE model_id = %s ORDER BY id", model_id)  # fmt: skip


def test_lifecycle_promote_archive_rollback_rerole_with_one_event_each(services, fetch):
    register(services, "m", "Const")
    register(services, "m", "Const", {"n": 2}, version="v2", role="SHADOW")
    add_version(services, "m", "v3", CONST, {"n": 4}, role="CHALLENGER")
    activate(services, "m", "v3")
    before = fetch("SELECT count(*) FROM registry_events")[0][0]

    with pytest.raises(InvalidTransition, match="CHALLENGER is a benchmark"):
        promote(services, "m", "v3", who="op")
    with pytest.raises(GateFailed, match="no SHADOW runs"):
        promote(services, "m", "v2", who="op")
    with pytest.raises(ReasonRequired):
        promote(services, "m", "v2", who="op", force=True)
    res = promote(services, "m", "v2", who="op", reason="looks right", force=True)
    assert (res.changed, res.replaced, res.forced) == (True, "v1", True)
    assert state(fetch) == [("v1", "PRIMARY", "ARCHIVED"), ("v2", "PRIMARY", "ACTIVE"),
                            ("v3", "CHALLENGER", "ACTIVE")]  # fmt: skip
    # idempotent: the second call changes nothing and writes no event
    assert not promote(services, "m", "v2", who="op", reason="again", force=True).changed

    with pytest.raises(InvalidTransition, match="PRIMARY of an enabled model"):
        archive(services, "m", "v2", who="op")
    with pytest.raises(ReasonRequired):
        rollback(services, "m", "v1", who="op")
    res = rollback(services, "m", "v1", who="op", reason="v2 misbehaves")
    assert res.replaced == "v2"
    assert rerole(services, "m", "v3", "SHADOW", who="op").changed
    with pytest.raises(InvalidTransition, match="use `promote`"):
        rerole(services, "m", "v3", "PRIMARY", who="op")
    assert archive(services, "m", "v3", who="op").changed
    assert not archive(services, "m", "v3", who="op").changed
    assert state(fetch) == [("v1", "PRIMARY", "ACTIVE"), ("v2", "PRIMARY", "ARCHIVED"),
                            ("v3", "SHADOW", "ARCHIVED")]  # fmt: skip
    events = fetch("SELECT action, version, from_role, from_status, to_role, to_status, actor, "
                   "reason FROM registry_events WHERE id > %s ORDER BY id", before)  # fmt: skip
    assert events == [
        ("promote", "v2", "SHADOW", "ACTIVE", "PRIMARY", "ACTIVE", "op", "looks right"),
        ("rollback", "v1", "PRIMARY", "ARCHIVED", "PRIMARY", "ACTIVE", "op", "v2 misbehaves"),
        ("rerole", "v3", "CHALLENGER", "ACTIVE", "SHADOW", "ACTIVE", "op", None),
        ("archive", "v3", "SHADOW", "ACTIVE", "SHADOW", "ARCHIVED", "op", None),
    ]


def test_promotion_gates_pass_on_real_comparisons(services):
    services.config.set("models.gate_min_cycles", 3)
    services.config.set("models.gate_max_latency_ratio", 1000.0)
    register(services, "m", "Const", {"n": 4})
    register(services, "m", "Const", {"n": 4, "base": 0.1}, version="v2", role="SHADOW")
    register(services, "m", "Const", {"n": 4, "decision": "other"}, version="v3", role="SHADOW")
    for i in range(3):
        run_cycle(services, f"c{i}", cycle_time(i), None)
    with pytest.raises(GateFailed, match=r"agreement 0 \(needs >= 0.9\)"):
        promote(services, "m", "v3", who="op")
    res = promote(services, "m", "v2", who="op")
    assert res.changed and {g.name: g.passed for g in res.gates}["agreement"] is True


def test_bad_input_is_refused_naming_model_version_and_field(services, fetch):
    with pytest.raises(ModelFieldInvalid, match="65 characters"):
        add_model(services, "x" * 65)
    with pytest.raises(psycopg.errors.CheckViolation):
        fetch("INSERT INTO detection_models (model_id) VALUES (%s)", "x" * 65)
    add_model(services, "m")
    with pytest.raises(ModelNotFound, match="'ghost'"):
        add_version(services, "ghost", "v1", CONST)
    with pytest.raises(EntrypointInvalid, match="model 'm' version 'v1': entrypoint"):
        add_version(services, "m", "v1", "nowhere.at_all:Model")
    with pytest.raises(EntrypointInvalid, match="not a BaseDetectionModel"):
        add_version(services, "m", "v1", f"{toy.HERE}:NotAModel")
    with pytest.raises(ParamsInvalid) as err:
        add_version(services, "m", "v1", CONST, {"n": "many"})
    assert (err.value.model_id, err.value.version, err.value.field) == ("m", "v1", "n")
    with pytest.raises(ModelFieldInvalid, match="role"):
        add_version(services, "m", "v1", CONST, role="BOSS")
    assert fetch("SELECT count(*) FROM detection_model_versions") == [(0,)]  # nothing written

    register(services, "m", "Const")
    with pytest.raises(VersionConflict, match="params"):
        add_version(services, "m", "v1", CONST, {"n": 9}, role="PRIMARY")
    assert not add_version(services, "m", "v1", CONST, {}, role="PRIMARY").changed
    add_version(services, "m", "v2", CONST, {}, role="PRIMARY")
    with pytest.raises(SecondPrimary, match="already has ACTIVE PRIMARY version 'v1'"):
        activate(services, "m", "v2")
    # the database enforces it too, whatever writes the row
    with pytest.raises(psycopg.errors.UniqueViolation):
        fetch("UPDATE detection_model_versions SET status = 'ACTIVE' WHERE version = 'v2' "
              "RETURNING 1")  # fmt: skip
    with pytest.raises(psycopg.errors.CheckViolation, match="immutable"):
        fetch("UPDATE detection_model_versions SET params = '{\"n\": 7}' WHERE version = 'v1' "
              "RETURNING 1")  # fmt: skip
    with pytest.raises(InvalidTransition, match="cannot promote"):
        promote(services, "m", "v2", who="op", reason="r", force=True)


def test_add_dependency_refuses_cycles_with_the_path_and_unknown_models(services, fetch):
    for m in ("a", "b", "c"):
        register(services, m, "Const")
    add_dependency(services, "b", "a", "x")
    add_dependency(services, "c", "b", "x")
    assert not add_dependency(services, "c", "b", "x").changed
    with pytest.raises(CycleWouldForm, match="a -> b -> c -> a"):
        add_dependency(services, "a", "c", "loop")
    with pytest.raises(ModelNotFound) as err:
        add_dependency(services, "a", "ghost", "g")
    assert err.value.field == "depends_on"
    with pytest.raises(DependencyInvalid, match="cannot read itself"):
        add_dependency(services, "a", "a", "self")
    with pytest.raises(DependencyInvalid, match="already reads model 'b'"):
        add_dependency(services, "c", "a", "x")
    assert fetch("SELECT count(*) FROM detection_model_dependencies") == [(2,)]


def test_disable_blocks_dependants(services):
    register(services, "up", "Const")
    register(services, "down", "Const", inputs={"u": "up"})
    assert set_enabled(services, "up", False, who="op", reason="noisy").changed
    report = run_cycle(services, "c-off", cycle_time(0), None)
    assert [(r.model_id, r.status, r.reason) for r in report.runs] == [
        ("down", "SKIPPED", "upstream_disabled:up")]  # fmt: skip
    g = graph(services)
    assert {n.model_id: n.state for n in g.nodes} == {"down": "blocked", "up": "disabled"}
    mermaid = g.to_mermaid()
    assert "m1 -->|u| m0" in mermaid and "class m0 blocked" in mermaid
    assert '"up" -> "down" [label="u"];' in g.to_dot()
    # with the model disabled its PRIMARY may be archived
    assert archive(services, "up", "v1", who="op").changed
