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
