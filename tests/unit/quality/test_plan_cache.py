"""Plans are reused across batches of a source (same rules object, schema, shapes): a
reused plan gives what a freshly built one gives (pure; no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgwarden.quality.batch import read_batch
from pgwarden.quality.evaluator import CheckContext, evaluate
from pgwarden.quality.rules import parse_yaml

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = """
rules:
  - {kind: required, fields: [id, ts]}
  - {kind: range, field: v, min: 0, max: 10}
  - {kind: unique, field: id}
  - {kind: freshness, field: ts, max_age: 1h}
"""


def frame(minutes: list[int], *, odd_shape: bool = False):
    recs = [
        {"id": f"r{i % 7}", "ts": (NOW - timedelta(minutes=m)).isoformat(), "v": i % 13}
        for i, m in enumerate(minutes)
    ]
    if odd_shape:
        recs[-1]["ts"] = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")
    return read_batch(recs)


def summary(ev):
    return [(f.rule.name, f.count, f.sample_ids, f.detail) for f in ev.findings]


def test_a_reused_plan_measures_freshness_from_each_batch_s_own_receipt():
    rules = parse_yaml("src", RULES)
    f = frame([5, 50, 90, 130, 200])
    for later in (0, 1, 2, 5):  # same rules object: the plan is reused
        reference = NOW + timedelta(hours=later)
        reused = evaluate(f, rules, reference, CheckContext())
        fresh = evaluate(f, parse_yaml("src", RULES), reference, CheckContext())
        assert summary(reused) == summary(fresh)
    stale = {f.rule.name: f.count for f in evaluate(f, rules, NOW, CheckContext()).findings}
    assert stale["freshness:ts"] == 3
    later = evaluate(f, rules, NOW + timedelta(hours=5), CheckContext())
    assert {f.rule.name: f.count for f in later.findings}["freshness:ts"] == 5


def test_a_batch_that_needs_parsing_leaves_the_reused_plan_intact():
    rules = parse_yaml("src", RULES)
    plain = frame([5, 50, 90, 130, 200])
    first = evaluate(plain, rules, NOW, CheckContext())
    odd = frame([5, 50, 90, 130, 200], odd_shape=True)
    mixed = evaluate(odd, rules, NOW, CheckContext())
    assert summary(mixed) == summary(evaluate(odd, parse_yaml("src", RULES), NOW))
    assert "parsed" in {f.rule.name: f.detail for f in mixed.findings}["freshness:ts"]
    again = evaluate(plain, rules, NOW, CheckContext())
    assert summary(again) == summary(first)
    assert "as text" in {f.rule.name: f.detail for f in again.findings}["freshness:ts"]


def test_ids_seen_in_earlier_batches_count_in_a_reused_plan_s_source():
    rules = parse_yaml("src", RULES)
    f = frame([5, 6, 7])
    none_seen = evaluate(f, rules, NOW, CheckContext())
    seen = evaluate(f, rules, NOW, CheckContext(seen={"unique:id": ["r1"]}))
    assert {x.rule.name: x.count for x in none_seen.findings}["unique:id"] == 0
    assert {x.rule.name: x.count for x in seen.findings}["unique:id"] == 1
    assert {x.rule.name: x.count for x in evaluate(f, rules, NOW).findings}["unique:id"] == 0


def test_duplicates_in_a_large_batch_found_by_sorted_hashes_are_exact():
    from collections import Counter

    from pgwarden.quality.evaluator import SORT_HASHES

    n = SORT_HASHES + 20_000
    ids = [f"r{i}" if i % 97 else f"r{i // 3}" for i in range(n)]
    ids[5] = None  # nulls are never duplicates
    ids[6] = None
    f = read_batch([{"id": v, "ts": NOW.isoformat(), "v": 1} for v in ids])
    ev = evaluate(f, parse_yaml("src", RULES), NOW)
    counts = Counter(v for v in ids if v is not None)
    want = sum(c for c in counts.values() if c > 1)
    unique = next(x for x in ev.findings if x.rule.name == "unique:id")
    assert unique.count == want > 1000
    firsts = [v for v in ids if v is not None and counts[v] > 1][:20]
    assert unique.sample_ids == tuple(firsts)
