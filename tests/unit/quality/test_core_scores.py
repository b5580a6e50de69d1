"""Scores and levels: formulas by hand, and properties (scores in 0..1, level monotone)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgwarden.quality.model import QualityLevel
from pgwarden.quality.scoring import Levels, compute_scores, level_for

ORDER = [
    QualityLevel.CRITICAL,
    QualityLevel.POOR,
    QualityLevel.ACCEPTABLE,
    QualityLevel.GOOD,
    QualityLevel.EXCELLENT,
]
EQUAL = dict.fromkeys(("completeness", "consistency", "accuracy", "timeliness"), 1.0)


def test_the_formulas_by_hand():
    counts = {
        "records": 100,
        "required_fields": 2,
        "missing_values": 10,  # cell level: 1 - 10/200 = 0.95
        "incomplete_records": 5,  # record level (the default): 1 - 5/100 = 0.95
        "type_mismatches": 5,
        "typed_values": 50,  # 0.9
        "invalid_records": 20,  # 0.8
        "stale_records": 30,
        "timed_records": 60,  # 0.5
    }
    s = compute_scores(counts, EQUAL)
    assert (s.completeness, s.consistency, s.accuracy, s.timeliness) == pytest.approx(
        (0.95, 0.9, 0.8, 0.5)
    )
    assert s.overall == pytest.approx((0.95 + 0.9 + 0.8 + 0.5) / 4)
    assert s.level == QualityLevel.ACCEPTABLE  # 0.7875
    weighted = compute_scores(counts, {**EQUAL, "timeliness": 0.0})
    assert weighted.overall == pytest.approx((0.95 + 0.9 + 0.8) / 3)
    cells = compute_scores({**counts, "incomplete_records": 8, "completeness_cells": 1}, EQUAL)
    assert cells.completeness == pytest.approx(0.95)  # the cell formula, not 1 - 8/100
    assert compute_scores({**counts, "incomplete_records": 8}, EQUAL).completeness == 0.92


def test_thresholds_are_inclusive_and_configurable():
    assert level_for(0.9) == QualityLevel.EXCELLENT
    assert level_for(0.8999) == QualityLevel.GOOD
    assert level_for(0.5) == QualityLevel.POOR
    assert level_for(0.4999) == QualityLevel.CRITICAL
    strict = Levels(excellent=0.99, good=0.95, acceptable=0.9, poor=0.8)
    assert level_for(0.97, strict) == QualityLevel.GOOD
    with pytest.raises(ValueError, match="must rise"):
        Levels(excellent=0.5, good=0.8)


counts_strategy = st.integers(0, 10_000).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "records": st.just(n),
            "required_fields": st.integers(0, 5),
            "missing_values": st.integers(0, 5 * n),
            "incomplete_records": st.integers(0, n),
            "type_mismatches": st.integers(0, 3 * n),
            "typed_values": st.integers(0, 3 * n),
            "invalid_records": st.integers(0, n),
            "stale_records": st.integers(0, n),
            "timed_records": st.integers(0, n),
        }
    )
)


@given(counts_strategy, st.dictionaries(st.sampled_from(list(EQUAL)), st.floats(0, 10)))
def test_scores_stay_in_0_1(counts, weights):
    s = compute_scores(counts, {**EQUAL, **weights})
    for value in (s.completeness, s.consistency, s.accuracy, s.timeliness, s.overall):
        assert 0.0 <= value <= 1.0


@given(st.floats(0, 1), st.floats(0, 1))
def test_level_is_monotone_in_the_overall_score(a, b):
    low, high = sorted((a, b))
    assert ORDER.index(level_for(low)) <= ORDER.index(level_for(high))
