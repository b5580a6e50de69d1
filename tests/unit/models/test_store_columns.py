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
