from datetime import UTC, datetime

import pytest

from pgwarden.models.base import Role, load_entrypoint
from pgwarden.models.errors import ShadowPublishForbidden
from pgwarden.models.executor import NullSink, SharedContext, execute
from pgwarden.models.registry import snapshot_from_rows
from tests.unit.models import toy

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def snapshot(models, versions, edges=(), disabled=()):
    """models: ids; versions: (id, model, version, role, class, params)."""
    return snapshot_from_rows(
        [[m, "", m not in disabled] for m in models],
        [[i, m, v, r, p, f"h{i}", f"{toy.HERE}:{c}"] for i, m, v, r, c, p in versions],
        [list(e) for e in edges],
    )


def model_for(v):
    return load_entrypoint(v.entrypoint, model_id=v.model_id)(dict(v.params), model_id=v.model_id)


class ListSink(NullSink):
    def __init__(self):
        super().__init__()
        self.got = []

    def record(self, run, outputs, metrics):
        self.got.append((run, list(outputs), dict(metrics)))
        return super().record(run, outputs, metrics)


def run(snap, data=None, **kw):
    sink = ListSink()
    runs = execute(snap, snap.plan(), data, cycle_id="c1", cycle_time=T0, model_for=model_for,
                   sink=sink, **kw)  # fmt: skip
    return {(r.model_id, r.version): r for r in runs}, sink


@pytest.fixture(autouse=True)
def _clear_spy():
    toy.Spy.seen.clear()


def test_downstream_sees_only_primary_outputs_and_shadow_contamination_is_refused():
    snap = snapshot(
        ["up", "down"],
        [
            (1, "up", "p", "PRIMARY", "Spy", {}),
            (2, "up", "s", "SHADOW", "Spy", {}),
            (3, "up", "c", "CHALLENGER", "Spy", {}),
            (4, "down", "p", "PRIMARY", "Spy", {"attack": True}),
            (5, "down", "s", "SHADOW", "Spy", {"attack": True}),
        ],
        [("down", "up", "feed")],
    )
    runs, sink = run(snap)
    assert {r.status for r in runs.values()} == {"OK"}
    seen = {(m, v): inputs for m, v, inputs in toy.Spy.seen}
    # both the downstream PRIMARY and its SHADOW read the upstream PRIMARY only
    primary_rows = [{"entity_key": "p-0", "score": 0.0, "decision": "p"},
                    {"entity_key": "p-1", "score": 1.0, "decision": "p"}]  # fmt: skip
    for version in ("p", "s"):
        assert [dict(r) for r in seen[("down", version)]["feed"]] == primary_rows
    # every mutation attempt (replace key, change a record, append) was refused
    by_version = {run.version: m for run, _, m in sink.got if run.model_id == "down"}
    assert by_version["p"]["attempts_refused"] == 3 and by_version["s"]["attempts_refused"] == 3
    # the shadow ran on the very same inputs object the primary got
    assert seen[("down", "s")] == seen[("down", "p")]


def test_publishing_a_shadow_or_challenger_fails():
    snap = snapshot(["m"], [(1, "m", "s", "SHADOW", "Const", {}), (2, "m", "c", "CHALLENGER",
                                                                  "Const", {})])  # fmt: skip
    shared = SharedContext()
    for v in snap.versions:
        with pytest.raises(ShadowPublishForbidden, match="only a PRIMARY"):
            shared.publish(v, [{"entity_key": "x"}])
        assert not shared.has("m")


def test_failure_skips_dependants_but_shadows_and_independent_models_run():
    snap = snapshot(
        ["bad", "child", "grandchild", "solo"],
        [
            (1, "bad", "p", "PRIMARY", "Fail", {}),
            (2, "bad", "s", "SHADOW", "Const", {}),
            (3, "child", "p", "PRIMARY", "Const", {}),
            (4, "child", "s", "SHADOW", "Const", {}),
            (5, "grandchild", "p", "PRIMARY", "Const", {}),
            (6, "solo", "p", "PRIMARY", "Const", {}),
        ],
        [("child", "bad", "x"), ("grandchild", "child", "y")],
    )
    runs, _ = run(snap)
    assert runs[("bad", "p")].status == "FAILED"
    assert runs[("bad", "p")].error_class == "RuntimeError"
    assert "boom in bad" in runs[("bad", "p")].error_message
    assert runs[("bad", "s")].status == "OK"  # the shadow still runs next to a failed primary
    assert runs[("child", "p")].status == "SKIPPED"
    assert runs[("child", "p")].reason == "upstream_failed:bad"
    assert runs[("child", "s")].reason == "upstream_failed:bad"
    assert runs[("grandchild", "p")].reason == "upstream_failed:child"
    assert runs[("solo", "p")].status == "OK"


def test_a_failing_shadow_leaves_primary_downstream_and_other_shadows_alone():
    snap = snapshot(
        ["up", "down"],
        [
            (1, "up", "p", "PRIMARY", "Const", {}),
            (2, "up", "s1", "SHADOW", "Fail", {}),
            (3, "up", "s2", "SHADOW", "Const", {}),
            (4, "down", "p", "PRIMARY", "Const", {}),
        ],
        [("down", "up", "u")],
    )
    runs, sink = run(snap)
    assert runs[("up", "s1")].status == "FAILED"
    assert all(runs[k].status == "OK" for k in [("up", "p"), ("up", "s2"), ("down", "p")])
    down_metrics = next(m for r, _, m in sink.got if r.model_id == "down")
    assert down_metrics["upstream_rows"] == 3


def test_time_budget_marks_timeout_and_does_not_publish():
    snap = snapshot(
        ["slow", "after"],
        [
            (1, "slow", "p", "PRIMARY", "Sleepy", {"sleep_ms": 30, "time_budget_ms": 5}),
            (2, "after", "p", "PRIMARY", "Const", {}),
        ],
        [("after", "slow", "s")],
    )
    runs, sink = run(snap)
    slow = runs[("slow", "p")]
    assert slow.status == "TIMEOUT" and slow.duration_ms >= 30
    assert slow.reason.startswith("time_budget_exceeded:") and slow.output_count == 1
    assert runs[("after", "p")].reason == "upstream_failed:slow"


def test_blocked_models_get_one_skipped_run_per_version_with_the_reason():
    snap = snapshot(
        ["a", "b", "d", "off", "reads_off"],
        [
            (1, "a", "p", "PRIMARY", "Const", {}),
            (2, "b", "p", "PRIMARY", "Const", {}),
            (3, "b", "s", "SHADOW", "Const", {}),
            (4, "d", "p", "PRIMARY", "Const", {}),
            (5, "off", "p", "PRIMARY", "Const", {}),
            (6, "reads_off", "p", "PRIMARY", "Const", {}),
        ],
        [("b", "a", "x"), ("a", "b", "y"), ("reads_off", "off", "z")],
        disabled=("off",),
    )
    runs, _ = run(snap)
    assert runs[("d", "p")].status == "OK"
    assert runs[("a", "p")].reason == "in_cycle:a->b->a"
    assert runs[("b", "s")].reason == "in_cycle:a->b->a"
    assert runs[("reads_off", "p")].reason == "upstream_disabled:off"
    assert ("off", "p") not in runs  # a disabled model is not part of the cycle at all


def test_bad_results_are_failures_not_crashes():
    from pgwarden.models import BaseDetectionModel, ModelResult
    from pgwarden.models.executor import as_outputs

    class NotAResult(BaseDetectionModel):
        def run(self, ctx):
            return [{"entity_key": "x"}]

    snap = snapshot(["m"], [(1, "m", "p", "PRIMARY", "Const", {})])
    v = snap.versions[0]
    sink = ListSink()
    runs = execute(snap, snap.plan(), None, cycle_id="c", cycle_time=T0,
                   model_for=lambda _: NotAResult(model_id="m"), sink=sink)  # fmt: skip
    assert runs[0].status == "FAILED" and "not a ModelResult" in runs[0].error_message

    def gone(_):
        raise ImportError("gone")

    runs = execute(snap, snap.plan(), None, cycle_id="c", cycle_time=T0, model_for=gone,
                   sink=sink)  # fmt: skip
    assert runs[0].reason == "load_failed" and runs[0].error_class == "ImportError"
    with pytest.raises(TypeError):
        as_outputs({"entity_key": "x"})
    assert as_outputs(ModelResult([{"a": 1}]).outputs) == [{"a": 1}]
    assert v.role is Role.PRIMARY


def test_a_published_frame_reads_as_read_only_records_flat_or_nested():
    import polars as pl

    snap = snapshot(["m"], [(1, "m", "p", "PRIMARY", "Const", {})])
    flat = pl.DataFrame({"entity_key": ["a", "b"], "score": [1.0, None], "decision": ["x", "y"]})
    nested = flat.with_columns(pl.Series("tags", [["t1"], []]), pl.struct("score").alias("s"))
    for frame in (flat, nested):
        shared = SharedContext()
        shared.publish(snap.versions[0], frame)
        got = shared.lookup("m")
        assert [dict(r) for r in got] == [
            {k: (tuple(v) if isinstance(v, list) else v) for k, v in row.items()}
            for row in frame.to_dicts()
        ]
        with pytest.raises(TypeError):
            got[0]["score"] = 2.0
        with pytest.raises((TypeError, AttributeError)):
            got.append({})  # type: ignore[attr-defined]
        if "tags" in frame.columns:
            with pytest.raises((TypeError, AttributeError)):
                got[0]["tags"].append("t2")
            with pytest.raises(TypeError):
                got[0]["s"]["score"] = 3.0


def test_a_published_frame_is_read_as_a_frame_that_nobody_else_sees_changed():
    import polars as pl

    from pgwarden.models.base import ModelContext, freeze

    snap = snapshot(["m"], [(1, "m", "p", "PRIMARY", "Const", {})])
    frame = pl.DataFrame({"entity_key": ["a", "b"], "score": [1.0, 2.0]})
    shared = SharedContext()
    shared.publish(snap.versions[0], frame)
    published = shared.lookup("m")
    rows = freeze([{"entity_key": "x", "score": None}, {"entity_key": "y", "score": 3}])
    ctx = ModelContext(
        "c1", datetime.now(UTC), None, "d", "1", Role.PRIMARY, {}, {"up": published, "rows": rows}
    )
    assert len(published) == 2
    mine = ctx.frame("up")
    assert mine.equals(frame)
    mine.insert_column(0, pl.Series("z", [1, 2]))  # in place, on this model's clone only
    mine[0, "score"] = 9.0
    assert ctx.frame("up").equals(frame)
    assert [dict(r) for r in published] == frame.to_dicts()
    assert published == tuple(frame.to_dicts()) and published != ({"entity_key": "a"},)
    built = ctx.frame("rows")  # an upstream that returned rows: a frame built from them
    assert built.to_dicts() == [{"entity_key": "x", "score": None}, {"entity_key": "y", "score": 3}]
    nested = freeze([{"k": "a", "tags": ["x", "y"], "meta": {"n": 1}}, {"k": "b", "tags": []}])
    ctx = ModelContext("c1", datetime.now(UTC), None, "d", "1", Role.PRIMARY, {}, {"up": nested})
    assert ctx.frame("up").to_dicts() == [
        {"k": "a", "tags": ["x", "y"], "meta": {"n": 1}},
        {"k": "b", "tags": [], "meta": None},
    ]
