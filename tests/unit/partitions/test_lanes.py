"""How a run's batched tables are spread over lanes (pure: no connection)."""

from hypothesis import given
from hypothesis import strategies as st

from pgwarden.partitions import batch


class _Table:
    """Stands for a TableApplier: lanes only tell tables apart by identity."""


def _units(sizes: list[list[int]]) -> list[batch.Unit]:
    """Per table, its units' action counts (a table has one or two units)."""
    units = []
    for table in sizes:
        applier = _Table()
        for n in table:
            units.append(batch.Unit(applier, "remove", [object()] * n, []))  # type: ignore[arg-type]
    return units


def _actions(lane: list[batch.Unit]) -> int:
    return sum(len(u.actions) for u in lane)


def test_lane_count_needs_enough_actions_and_tables():
    per = batch.MIN_ACTIONS_PER_LANE
    assert batch.lane_count(_units([[per], [per]]), 2) == 2
    assert batch.lane_count(_units([[per - 1], [per]]), 2) == 1  # 2 * per - 1 actions
    assert batch.lane_count(_units([[100]]), 4) == 1  # one table cannot be split
    assert batch.lane_count(_units([[50], [50], [50]]), 2) == 2  # capped by the setting
    assert batch.lane_count(_units([[50], [50], [50]]), 8) == 3  # by the tables
    assert batch.lane_count(_units([]), 4) == 1


def test_the_largest_tables_go_first_to_the_lightest_lane():
    units = _units([[1], [9], [4], [5], [2, 2]])
    lanes = batch.lanes_of(units, 2)
    # 9 -> lane 0; 5 -> lane 1; the first 4 -> lane 1 (5 < 9); the second 4 (2 + 2)
    # -> lane 0 (9 = 9: the first); 1 -> lane 1 (10 < 13)
    assert [_actions(lane) for lane in lanes] == [13, 10]
    # each lane keeps the order the tables came in
    assert lanes[0] == [units[1], units[4], units[5]]
    assert lanes[1] == [units[0], units[2], units[3]]


@given(
    st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=2), min_size=1, max_size=30),
    st.integers(1, 6),
)
def test_lanes_keep_tables_whole_in_order_and_balanced(sizes, n):
    units = _units(sizes)
    lanes = batch.lanes_of(units, n)
    assert len(lanes) == min(n, len(sizes))
    assert all(lanes)
    # every unit once; a table's units in one lane, in their order; tables in order
    assert sorted(map(id, (u for lane in lanes for u in lane))) == sorted(map(id, units))
    position = {id(u): i for i, u in enumerate(units)}
    for lane in lanes:
        assert [position[id(u)] for u in lane] == sorted(position[id(u)] for u in lane)
    lane_of = {id(u.applier): i for i, lane in enumerate(lanes) for u in lane}
    assert len(lane_of) == len(sizes)
    # greedy by size: no lane exceeds another by more than the largest table
    loads = [_actions(lane) for lane in lanes]
    largest = max(sum(t) for t in sizes)
    assert max(loads) - min(loads) <= largest
