"""The catalog query's rows turned into TableStates (pure: rows in, states out)."""

from datetime import UTC, datetime

from pgwarden.partitions.catalog import states_from_rows
from pgwarden.partitions.planner import Partition
from pgwarden.partitions.policy import TableName, build_policy

TZ_TYPE = "timestamp with time zone"


def _row(table, children, key_type=TZ_TYPE):
    """One parent's row: its facts, then its children (name, bound, kind, pending) as the
    query's parallel arrays, then its quiet flag and identity (not quiet, read by name)."""
    identity = (False, 1, None, len(children), 0)
    if not children:
        facts = ("bench", table, True, "r", 1, "ts", key_type)
        return (*facts, None, None, None, None, None, *identity)
    names, bounds, kinds, pending = zip(*children, strict=True)
    schemas = ["bench"] * len(names)
    return (
        "bench",
        table,
        True,
        "r",
        1,
        "ts",
        key_type,
        schemas,
        *map(list, (names, kinds)),
        list(bounds),
        list(pending),
        *identity,
    )


def _child(name, bound, kind="r", pending=False):
    return (name, bound, kind, pending)


def test_rows_in_any_order_give_children_in_name_order_with_parsed_bounds():
    events = build_policy(TableName("bench", "events"), interval="daily")
    other = build_policy(TableName("bench", "other"), interval="daily")
    gone = build_policy(TableName("bench", "gone"), interval="daily")
    rows = [
        _row("other", []),
        _row(
            "events",
            [
                _child(
                    "events_p2",
                    "FOR VALUES FROM ('2026-01-02 00:00:00+00') TO ('2026-01-03 00:00:00+00')",
                ),
                _child("events_d", "DEFAULT"),
                # a cast after the literal: not the common shape, parsed the general way
                _child(
                    "events_p1",
                    "FOR VALUES FROM ('2026-01-01 00:00:00+00'::timestamp with time zone) "
                    "TO ('2026-01-02 00:00:00+00')",
                    pending=True,
                ),
                _child("events_max", "FOR VALUES FROM ('2026-01-03 00:00:00+00') TO (MAXVALUE)"),
            ],
        ),
        ("bench", "gone", False, None, None, None, None, None, None, None, None, None),
    ]
    ev, ot, go = states_from_rows([events, other, gone], rows)
    assert [p.name for p in ev.partitions] == ["events_d", "events_max", "events_p1", "events_p2"]
    d, mx, p1, p2 = ev.partitions
    assert d.is_default and ev.default is d
    assert (mx.lower, mx.upper) == (datetime(2026, 1, 3, tzinfo=UTC), None) and not mx.managed
    assert (p1.lower, p1.upper) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert p1.detach_pending and p1.managed
    assert p2.lower == p1.upper and p2.upper == datetime(2026, 1, 3, tzinfo=UTC)
    assert ev.range_partitioned and ev.key_column == "ts" and ev.key_type == TZ_TYPE
    assert ot.exists and ot.partitions == ()
    assert not go.exists


def test_a_parent_the_rows_do_not_name_is_missing():
    events = build_policy(TableName("bench", "events"), interval="daily")
    [state] = states_from_rows([events], [])
    assert not state.exists


def test_unreadable_and_quoted_bounds_leave_the_partition_unbounded():
    policy = build_policy(TableName("bench", "odd"), interval="daily")
    rows = [
        _row(
            "odd",
            [
                _child("odd_a", "FOR VALUES FROM (MINVALUE) TO ('2026-01-01 00:00:00+00')"),
                _child("odd_b", "FOR VALUES FROM ('infinity') TO ('-infinity')"),
                _child("odd_c", "FOR VALUES IN ('x')"),
                _child("odd_d", None, kind="f"),
            ],
        )
    ]
    [state] = states_from_rows([policy], rows)
    a, b, c, d = state.partitions
    assert (a.lower, a.upper) == (None, datetime(2026, 1, 1, tzinfo=UTC)) and not a.managed
    assert (b.lower, b.upper) == (None, None)
    assert (c.lower, c.upper) == (None, None)
    assert (d.lower, d.upper, d.relkind) == (None, None, "f") and not d.managed


def test_date_bounds_are_local_midnights_of_the_policy_zone():
    policy = build_policy(TableName("bench", "days"), interval="daily", timezone="Europe/Paris")
    rows = [
        _row(
            "days",
            [_child("days_1", "FOR VALUES FROM ('2026-07-01') TO ('2026-07-02')")],
            key_type="date",
        )
    ]
    [state] = states_from_rows([policy], rows)
    [part] = state.partitions
    assert part.lower == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert part.upper == datetime(2026, 7, 1, 22, tzinfo=UTC)


def test_the_same_bound_text_is_read_in_each_parents_zone_and_key_type():
    # the run-wide cache of parsed bounds is per key type and zone
    text = "FOR VALUES FROM ('2026-07-01 00:00:00') TO ('2026-07-02 00:00:00')"
    paris = build_policy(TableName("bench", "paris"), interval="daily", timezone="Europe/Paris")
    utc = build_policy(TableName("bench", "utc"), interval="daily")
    plain = "timestamp without time zone"
    rows = [
        _row("paris", [_child("paris_1", text)], key_type=plain),
        _row("utc", [_child("utc_1", text)], key_type=plain),
    ]
    p, u = states_from_rows([paris, utc], rows)
    assert p.partitions[0].lower == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert u.partitions[0].lower == datetime(2026, 7, 1, tzinfo=UTC)
    assert u.partitions[0].upper == datetime(2026, 7, 2, tzinfo=UTC)


def test_children_are_whole_partitions_ordered_by_name_then_schema():
    # the same name in two schemas (both children of one parent): ordered by schema
    policy = build_policy(TableName("bench", "two"), interval="daily")
    text = "FOR VALUES FROM ('2026-01-0{}') TO ('2026-01-0{}')"
    row = list(_row("two", [_child("p", text.format(2, 3)), _child("p", text.format(1, 2))]))
    row[7] = ["zeta", "alpha"]
    [state] = states_from_rows([policy], [tuple(row)])
    day = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    assert state.partitions == (
        Partition("alpha", "p", day[0], day[1], is_default=False, detach_pending=False),
        Partition("zeta", "p", day[1], day[2], relkind="r"),
    )
    assert all(type(p) is Partition for p in state.partitions)
