import polars as pl

from pgwarden.demo.models import frame_from, sample_batches

RECS = [
    {"id": "1", "timestamp": "2026-11-21T10:00:00Z", "value": 12.5, "category": "A",
     "user_id": "u1"},
    {"id": "2", "timestamp": None, "value": -999, "category": "B", "user_id": "u2"},
]  # fmt: skip


def test_frame_from_accepts_every_documented_shape():
    shapes = [
        [{"source": "api_calls", "batch_id": "b1", "records": RECS}],
        {"api_calls": RECS},
        {"batch_id": "b1", "source": "api_calls", "frame": pl.DataFrame(RECS), "metadata": {}},
        pl.DataFrame(RECS).with_columns(pl.lit("api_calls").alias("source")),
    ]
    for data in shapes:
        frame = frame_from(data)
        assert frame.columns == ["source", "id", "timestamp", "value", "category", "user_id"]
        assert frame["source"].to_list() == ["api_calls", "api_calls"]
        assert frame["value"].to_list() == [12.5, -999.0]
    assert frame_from(None).height == 0 and frame_from([]).height == 0


def test_sample_batches_are_deterministic_and_have_defects():
    a, b = sample_batches(3), sample_batches(3)
    assert a == b and len(a) == 4
    frame = frame_from(a)
    defects = frame.filter(pl.col("timestamp").is_null() | (pl.col("value") == -999)).height
    assert 0 < defects < frame.height * 0.25


def _run(model, data, **params):
    from datetime import UTC, datetime

    from pgwarden.models import ModelContext

    ctx = ModelContext(
        "c1", datetime.now(UTC), data, model.registry_id, "1", "PRIMARY", model.params, {}
    )
    return model.run(ctx)


def test_a_value_that_is_not_a_number_is_a_defect_not_a_failed_model():
    # It used to raise in the cast, and the whole model run failed for one bad value.
    from pgwarden.demo.models import MissingDataDetector, SpikeDetector

    recs = [*RECS, {"id": "3", "timestamp": "2026-11-21T10:01:00Z", "value": "x"}]
    data = {"api_calls": recs}
    assert frame_from(data)["value"].to_list() == [12.5, -999.0, None]
    spikes = _run(SpikeDetector(), data)
    assert spikes.outputs["entity_key"].to_list() == ["api_calls:1"]
    missing = _run(MissingDataDetector(), data)
    assert missing.outputs[0]["defects"] == 2 and missing.outputs[0]["records"] == 3


def test_columns_the_models_do_not_know_keep_every_row():
    frame = frame_from([{"source": "s", "records": [{"foo": 1}, {"foo": 2}, {"foo": 3}]}])
    assert frame.height == 3 and frame["source"].to_list() == ["s"] * 3
    assert frame["value"].null_count() == 3


def test_spike_scores_are_the_robust_z_of_each_source():
    import statistics

    from pgwarden.demo.models import MAD_SCALE, SpikeDetector

    batches = sample_batches(7)
    model = SpikeDetector()
    got = _run(model, batches).outputs
    for batch in batches:
        valid = [
            r for r in batch["records"] if r.get("timestamp") and r.get("value") not in (None, -999)
        ]
        values = [float(r["value"]) for r in valid]
        med = statistics.median(values)
        mad = max(statistics.median(abs(v - med) for v in values), model.params.min_mad)
        mine = got.filter(pl.col("source") == batch["source"])
        assert mine["entity_key"].to_list() == [f"{batch['source']}:{r['id']}" for r in valid]
        want = [round(MAD_SCALE * abs(v - med) / mad, 4) for v in values]
        assert mine["score"].to_list() == want
        decisions = ["spike" if w > model.params.threshold else "normal" for w in want]
        assert mine["decision"].to_list() == decisions


def test_risk_counts_spikes_per_source_the_same_from_a_frame_or_from_rows():
    from datetime import UTC, datetime

    from pgwarden.demo.models import RiskAggregator
    from pgwarden.models import ModelContext
    from pgwarden.models.base import FrameRecords, Role, freeze

    spikes = pl.DataFrame(
        {
            "source": ["a", "a", "b", "b", "b"],
            "entity_key": ["a:1", "a:2", "b:1", "b:2", "b:3"],
            "decision": ["spike", None, "spike", "spike", "normal"],
        }
    )
    missing = freeze([{"entity_key": "a", "score": 0.5}, {"entity_key": "c", "score": 0.2}])

    def risk(spike_input: object) -> list[dict]:
        model = RiskAggregator()
        inputs = {"spikes": spike_input, "missing": missing}
        ctx = ModelContext(
            "c1", datetime.now(UTC), None, "demo.risk", "1", Role.PRIMARY, model.params, inputs
        )
        return list(model.run(ctx).outputs)

    # a: 1 spike of 2, missing 0.5; b: 2 of 3; c: no spikes, missing 0.2
    expected = [
        {"entity_key": "a", "score": round(0.6 * 0.5 + 0.4 * 0.5, 4), "decision": "high"},
        {"entity_key": "b", "score": round(0.6 * 2 / 3, 4), "decision": "high"},
        {"entity_key": "c", "score": round(0.4 * 0.2, 4), "decision": "low"},
    ]
    assert risk(FrameRecords(spikes)) == expected
    assert risk(freeze(spikes.to_dicts())) == expected
    assert risk(()) == [
        {"entity_key": "a", "score": 0.2, "decision": "medium"},
        {"entity_key": "c", "score": 0.08, "decision": "low"},
    ]
