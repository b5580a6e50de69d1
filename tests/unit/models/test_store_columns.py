"""The output rows of a version as the text columns of its one INSERT (pure)."""

import json
from decimal import Decimal

from pgwarden.models.store import output_columns


def test_output_rows_become_text_columns_that_round_trip():
    rows = [
        {"entity_key": 7, "score": 0.1, "decision": True, "defects": 8},
        {"entity_key": "b", "score": float("nan"), "decision": None},
        {"entity_key": None, "score": 3, "decision": "spike", "note": {"a": [1, 2]}},
        {"score": "not a number"},  # passed as it is: the column's type decides
        {"score": Decimal("1.25")},
    ]
    keys, scores, decisions, payloads = output_columns(rows)
    assert keys == ["7", "b", None, None, None]
    assert scores == ["0.1", None, "3.0", "not a number", "1.25"]
    assert float(scores[0] or "") == 0.1  # repr round-trips the double exactly
    assert decisions == ["true", None, "spike", None, None]
    assert json.loads(payloads) == [
        {"defects": 8},
        None,
        {"note": {"a": [1, 2]}},
        None,
        None,
    ]


def test_a_frame_gives_the_columns_its_records_would():
    # a DataFrame from a model is written column by column; the text must be what
    # the same outputs as records give, value for value
    import polars as pl

    from pgwarden.models.store import frame_columns

    frame = pl.DataFrame(
        {
            "entity_key": ["a", None, "c", "d"],
            "score": [0.1, float("nan"), 1e20, 0.30000000000000004],
            "decision": [True, False, None, True],
            "source": ["x", None, "z", "w"],
            "n": [1, 2, None, 4],
        }
    )
    got = frame_columns(frame)
    want = output_columns(frame.to_dicts())
    assert got[:3] == want[:3]
    assert [None if s is None else float(s) for s in got[1]] == [
        0.1,
        None,
        1e20,
        0.30000000000000004,
    ]
    assert json.loads(got[3]) == json.loads(want[3])

    ints = pl.DataFrame({"entity_key": [7, 8], "score": [3, None], "decision": ["spike", "ok"]})
    got = frame_columns(ints)
    assert (
        got[:3]
        == output_columns(ints.to_dicts())[:3]
        == (["7", "8"], ["3.0", None], ["spike", "ok"])
    )
    assert json.loads(got[3]) == [None, None]
    empty = frame.clear()
    assert frame_columns(empty)[:3] == ([], [], []) and json.loads(frame_columns(empty)[3]) == []
