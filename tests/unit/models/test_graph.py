import random

import pytest

from pgwarden.models.errors import GraphCycle
from pgwarden.models.graph import Edge, NodeState, find_cycles, plan, would_close_cycle

OK = NodeState(enabled=True, has_primary=True, active_versions=1)


def nodes(*ids, **special):
    out = dict.fromkeys(ids, OK)
    out.update(special)
    return out


def test_cycle_is_reported_as_a_path_and_blocks_only_members_and_dependants():
    # data flows a -> b -> c -> a; d independent; e reads c; f reads e
    edges = [
        Edge("b", "a", "in"),
        Edge("c", "b", "in"),
        Edge("a", "c", "in"),
        Edge("e", "c", "in"),
        Edge("f", "e", "in"),
    ]
    p = plan(nodes("a", "b", "c", "d", "e", "f"), edges)
    assert p.cycles == (("a", "b", "c", "a"),)
    assert p.order == ("d",)
    assert p.blocked == {
        "a": "in_cycle:a->b->c->a",
        "b": "in_cycle:a->b->c->a",
        "c": "in_cycle:a->b->c->a",
        "e": "downstream_of_cycle:c",
        "f": "downstream_of_cycle:c",
    }


def test_strict_mode_raises_with_the_path():
    with pytest.raises(GraphCycle, match="a -> b -> a"):
        plan(nodes("a", "b"), [Edge("a", "b", "x"), Edge("b", "a", "y")], strict=True)


def test_two_cycles_each_reported_once_from_their_smallest_member():
    edges = [Edge("y", "x", "i"), Edge("x", "y", "i"), Edge("b", "a", "i"), Edge("a", "b", "i")]
    assert find_cycles(edges) == [("a", "b", "a"), ("x", "y", "x")]


def test_order_is_deterministic_with_levels():
    # diamond: r -> (m1, m2) -> leaf ; z alone
    edges = [Edge("m2", "r", "k"), Edge("m1", "r", "k"), Edge("leaf", "m1", "a"),
             Edge("leaf", "m2", "b")]  # fmt: skip
    p = plan(nodes("leaf", "m2", "m1", "r", "z"), edges)
    assert p.order == ("r", "z", "m1", "m2", "leaf")
    assert p.levels == {"r": 0, "z": 0, "m1": 1, "m2": 1, "leaf": 2}
    shuffled = edges[:]
    random.Random(7).shuffle(shuffled)
    again = plan(dict(reversed(list(nodes("leaf", "m2", "m1", "r", "z").items()))), shuffled)
    assert again.order == p.order and again.levels == p.levels


def test_each_blocking_reason():
    state = nodes(
        "ok",
        "shadow_only",
        "reads_missing",
        "reads_disabled",
        "reads_shadow_only",
        "reads_blocked",
        off=NodeState(False, True, 1),
        shadow_only=NodeState(True, False, 1),
        idle=NodeState(True, False, 0),
    )
    edges = [
        Edge("reads_missing", "ghost", "g"),
        Edge("reads_disabled", "off", "o"),
        Edge("reads_shadow_only", "shadow_only", "s"),
        Edge("reads_blocked", "reads_disabled", "r"),
        Edge("reads_blocked", "ok", "k"),
    ]
    p = plan(state, edges)
    assert p.blocked == {
        "reads_missing": "upstream_unknown:ghost",
        "reads_disabled": "upstream_disabled:off",
        "reads_shadow_only": "upstream_no_primary:shadow_only",
        "reads_blocked": "upstream_blocked:reads_disabled",
    }
    # a model with only shadows runs (it provides nothing); idle and disabled are not planned
    assert p.order == ("ok", "shadow_only")
    assert p.idle == ("idle",)


def test_cycle_reason_wins_over_other_reasons():
    state = nodes("a", "b", "c", off=NodeState(False, True, 1))
    edges = [Edge("b", "a", "i"), Edge("a", "b", "i"), Edge("c", "off", "x"), Edge("c", "b", "y")]
    assert plan(state, edges).blocked["c"] == "downstream_of_cycle:b"


def test_would_close_cycle_gives_the_path():
    edges = [Edge("b", "a", "i"), Edge("c", "b", "i")]  # a -> b -> c
    assert would_close_cycle(edges, "a", "c") == ("a", "b", "c", "a")
    assert would_close_cycle(edges, "c", "a") is None
    assert would_close_cycle(edges, "a", "a") == ("a", "a")


def test_a_long_chain_and_a_wide_graph_plan_without_recursion_limits():
    n = 3000
    # names descend along the chain, so the planner meets the deepest model first
    edges = [Edge(f"m{i:05d}", f"m{i - 1:05d}", "prev") for i in range(1, n)]
    edges = [Edge(f"m{n - int(e.model_id[1:]):05d}", f"m{n - int(e.depends_on[1:]):05d}", "p")
             for e in edges]  # fmt: skip
    p = plan({f"m{i:05d}": OK for i in range(1, n + 1)}, edges)
    assert len(p.order) == n and p.levels["m00001"] == n - 1
    ring = edges + [Edge(f"m{n:05d}", "m00001", "loop")]
    cyc = find_cycles(ring)
    assert len(cyc) == 1 and len(cyc[0]) == n + 1
