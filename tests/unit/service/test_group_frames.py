"""A group's frames put end to end for its one model cycle (service/pipeline.stack), or
its batches' models run one by one when their columns do not meet."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from pgwarden.service.pipeline import _group_cycles, stack

T = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def _row(batch_id: str, minute: int) -> tuple:
    return (batch_id, "src", T.replace(minute=minute), "jsonl", b"", {"k": batch_id}, 1, None)


def test_frames_meet_on_missing_columns_nulls_and_numbers():
    a = pl.DataFrame({"id": ["1"], "value": [1], "only_a": ["x"]})
    b = pl.DataFrame({"id": ["2"], "value": [2.5], "empty": [None]})
    c = pl.DataFrame({"id": ["3"], "value": [None], "empty": [7]})
    got = stack([a, b, c])
    assert got.schema == {"id": pl.String, "value": pl.Float64, "only_a": pl.String,
                          "empty": pl.Int64}  # fmt: skip
    assert got.rows() == [("1", 1.0, "x", None), ("2", 2.5, None, None), ("3", None, None, 7)]


@pytest.mark.parametrize(
    "other",
    [
        pl.DataFrame({"id": ["2"], "value": [{"x": 1}]}),  # relaxed concat made it {1.0}
        pl.DataFrame({"id": ["2"], "value": ["text"]}),
        pl.DataFrame({"id": [2], "value": [1.0]}),
    ],
)
def test_frames_whose_types_differ_otherwise_do_not_meet(other):
    with pytest.raises(ValueError, match="in one batch and"):
        stack([pl.DataFrame({"id": ["1"], "value": [1.0]}), other])


def test_a_group_has_one_cycle_named_for_it_over_its_records_in_order():
    a, b = pl.DataFrame({"id": ["1"], "value": [1.0]}), pl.DataFrame({"id": ["2"], "value": [2]})
    (cycle,) = _group_cycles("g", [(_row("g", 5), a), (_row("m", 7), b)])
    cycle_id, rows, data = cycle
    assert cycle_id == "batch:g" and [r[0] for r in rows] == ["g", "m"]
    assert data["batch_id"] == "g" and data["batch_ids"] == ["g", "m"]
    assert data["received_at"] == T.replace(minute=5) and data["metadata"] == {"k": "g"}
    assert data["frame"]["id"].to_list() == ["1", "2"]


def test_a_group_whose_columns_do_not_meet_runs_each_batch_in_its_own_cycle():
    a = pl.DataFrame({"id": ["1"], "value": [1.0]})
    b = pl.DataFrame({"id": ["2"], "value": [{"x": 1}]})
    cycles = _group_cycles("g", [(_row("g", 5), a), (_row("m", 7), b)])
    assert [(c[0], [r[0] for r in c[1]]) for c in cycles] == [
        ("batch:g", ["g"]),
        ("batch:m", ["m"]),
    ]
    assert cycles[1][2]["frame"]["value"].to_list() == [{"x": 1}]
    assert _group_cycles("g", []) == []
