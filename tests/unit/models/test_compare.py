import math

import pytest

from pgwarden.models.compare import GatePolicy, compare_rows, percentile, ranks, spearman

RUNS = [
    # cycle, version_id, version, role, status, duration_ms
    ("c1", 1, "v1", "PRIMARY", "OK", 10.0),
    ("c1", 2, "v2", "SHADOW", "OK", 20.0),
    ("c2", 1, "v1", "PRIMARY", "OK", 30.0),
    ("c2", 2, "v2", "SHADOW", "OK", 30.0),
    ("c3", 1, "v1", "PRIMARY", "OK", 20.0),
    ("c3", 2, "v2", "SHADOW", "FAILED", 5.0),
    ("c4", 1, "v1", "PRIMARY", "SKIPPED", 0.0),
    ("c4", 2, "v2", "SHADOW", "SKIPPED", 0.0),
]
OUTPUTS = [
    ("c1", 1, "a", 1.0, "x"),
    ("c1", 1, "b", 2.0, "y"),
    ("c1", 1, "c", 3.0, "x"),
    ("c1", 2, "a", 1.5, "x"),
    ("c1", 2, "b", 2.0, "x"),
    ("c1", 2, "d", 9.0, "y"),
    ("c2", 1, "a", 4.0, "y"),
    ("c2", 1, "b", None, "y"),
    ("c2", 2, "a", 3.0, "y"),
    ("c2", 2, "b", 5.0, None),
]


def test_comparison_matches_hand_computed_values():
    policy = GatePolicy(min_cycles=3, min_coverage=0.8, min_agreement=0.7, max_error_rate=0.5,
                        max_latency_ratio=1.2)  # fmt: skip
    cycles, [c] = compare_rows(RUNS, OUTPUTS, policy)
    assert cycles == 4
    assert (c.version, c.role, c.primary_versions) == ("v2", "SHADOW", ("v1",))
    assert (c.cycles, c.paired_cycles) == (3, 2)  # c4 skipped on both sides
    assert c.error_rate == pytest.approx(1 / 3) and c.primary_error_rate == 0
    assert (c.primary_entities, c.matched_entities, c.coverage) == (5, 4, 0.8)
    assert (c.decisions_compared, c.flips, c.flips_by_pair) == (3, 1, {"y->x": 1})
    assert c.agreement == pytest.approx(2 / 3)
    assert c.scores_compared == 3  # deltas +0.5, 0, -1
    assert c.mean_delta == pytest.approx(-0.5 / 3)
    assert c.p50_abs_delta == pytest.approx(0.5)
    assert c.p95_abs_delta == pytest.approx(0.95)
    assert c.max_abs_delta == 1.0
    assert c.rank_correlation == pytest.approx(1.0)
    assert (c.candidate_p50_ms, c.primary_p50_ms) == (25.0, 20.0)
    assert c.latency_ratio == pytest.approx(1.25)
    gates = {g.name: g.passed for g in c.gates}
    assert gates == {"cycles": True, "coverage": True, "agreement": False, "error_rate": True,
                     "latency_ratio": False}  # fmt: skip
    assert c.verdict == "FAIL"
    assert c.failed_gates() == ["agreement 0.6667 (needs >= 0.7)",
                                "latency_ratio 1.25 (needs <= 1.2)"]  # fmt: skip
    assert c.to_dict()["gates"][0]["name"] == "cycles"


def test_metrics_that_do_not_apply_are_na_and_do_not_fail():
    runs = [("c1", 1, "v1", "PRIMARY", "OK", 1.0), ("c1", 2, "v2", "CHALLENGER", "OK", 1.0)]
    _, [c] = compare_rows(runs, [], GatePolicy(min_cycles=1))
    assert c.coverage is None and c.agreement is None and c.rank_correlation is None
    assert c.verdict == "PASS" and c.role == "CHALLENGER"


def test_percentile_ranks_and_spearman_by_hand():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert percentile([0, 10], 0.95) == pytest.approx(9.5)
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1], [1, 2]) is None
