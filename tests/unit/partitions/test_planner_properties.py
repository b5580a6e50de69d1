"""Property tests of the pure planner: simulated apply, then check the invariants."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pgwarden.partitions import bounds
from pgwarden.partitions.planner import (
    ARCHIVE,
    CREATE,
    DETACH,
    DROP,
    DefaultRows,
    Partition,
    TableState,
    plan,
    retention_cutoff,
    window,
)
from pgwarden.partitions.policy import Policy, Span, TableName

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
INTERVALS = [("days", 1), ("days", 7), ("days", 3), ("months", 1), ("months", 3), ("months", 12)]
BIG = 100_000
KEY = "timestamp with time zone"


@st.composite
def policies(draw):
    unit, count = draw(st.sampled_from(INTERVALS))
    period_days = count * (31 if unit == "months" else 1)
    retention = draw(
        st.one_of(
            st.none(),
            st.builds(lambda d: Span(0, d), st.integers(period_days, period_days * 6)),
            st.builds(lambda m: Span(m, 0), st.integers(max(1, -(-period_days // 28)), 36)),
        )
    )
    return Policy(
        table=TableName("public", "events"),
        interval_unit=unit,
        interval_count=count,
        premake=draw(st.integers(0, 8)),
        retention=retention,
        retention_action=draw(st.sampled_from(["drop", "detach", "archive"])),
        archive_dir="/tmp",
        keep_at_least=draw(st.integers(0, 3)),
        max_drops_per_run=BIG,
        timezone=draw(st.sampled_from(ZONES)),
    )


instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


def simulate(state: TableState, actions) -> TableState:
    parts = list(state.partitions)
    for a in actions:
        if a.kind == CREATE:
            parts.append(Partition(a.schema, a.partition, a.lower, a.upper))
        elif a.kind in (DROP, DETACH, ARCHIVE):
            parts = [p for p in parts if p.name != a.partition]
    return replace(state, partitions=tuple(parts), default_rows=None)


def state_of(policy: Policy, parts=()) -> TableState:
    return TableState(policy, key_column="ts", key_type=KEY, partitions=tuple(parts))


def check_no_overlap(parts):
    spans = sorted((p.lower, p.upper) for p in parts if not p.is_default)
    for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
        assert lo >= hi, spans


@settings(max_examples=150, deadline=None)
@given(policy=policies(), old=policies(), now=instants, age=st.integers(0, 400))
def test_plan_then_apply_invariants(policy, old, now, age):
    # history made by an older policy (maybe another interval and zone) some days ago
    earlier = now - timedelta(days=age)
    history = simulate(state_of(old), plan([state_of(old)], earlier, BIG).actions)
    state = replace(history, policy=policy)
    p1 = plan([state], now, BIG)
    after = simulate(state, p1.actions)

    check_no_overlap(after.partitions)
    # no gaps inside the window, and it ends exactly premake periods after the current one
    _, lo, hi = window(policy, now)
    spans = sorted((p.lower, p.upper) for p in after.partitions)
    cur = lo
    for s_lo, s_hi in spans:
        if s_hi <= cur:
            continue
        assert s_lo <= cur, f"gap at {cur} inside window"
        cur = s_hi
        if cur >= hi:
            break
    assert cur >= hi
    created = [a for a in p1.actions if a.kind == CREATE]
    if created:
        assert max(a.upper for a in created) <= hi  # never beyond the window
    # never a removal inside retention
    cutoff = retention_cutoff(policy, now)
    for a in p1.actions:
        if a.kind in (DROP, DETACH, ARCHIVE):
            assert cutoff is not None and a.upper <= cutoff
            r = policy.retention
            assert a.upper <= now - timedelta(days=r.days + 28 * r.months) + timedelta(hours=3)
    assert len(after.partitions) >= min(policy.keep_at_least, len(state.partitions))
    # idempotent: planning again right after applying has nothing to do
    assert plan([after], now, BIG).actions == []


@settings(max_examples=100, deadline=None)
@given(policy=policies(), now=instants)
def test_exact_premake_from_nothing(policy, now):
    actions = plan([state_of(policy)], now, BIG).actions
    creates = [a for a in actions if a.kind == CREATE]
    assert len(creates) == policy.premake + 1
    current, lo, _ = window(policy, now)
    assert creates[0].lower == lo <= now < creates[0].upper
    for a in creates:  # each an aligned local-midnight period
        local = a.lower.astimezone(policy.tz)
        idx = bounds.period_index(policy.interval_unit, policy.interval_count, local.date())
        assert (
            bounds.boundary(policy.interval_unit, policy.interval_count, idx, policy.tz) == a.lower
        )


def test_far_future_guard_caps_creates_and_warns():
    policy = Policy(
        table=TableName("public", "e"), interval_unit="days", interval_count=1, premake=3
    )
    now = datetime(2024, 1, 10, tzinfo=UTC)
    default = Partition("public", "e_default", None, None, is_default=True)
    state = replace(
        state_of(policy, [default]),
        default_rows=DefaultRows(
            5, datetime(2024, 1, 9, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
        ),
    )
    result = plan([state], now, 50)
    creates = [a for a in result.actions if a.kind == CREATE]
    assert len(creates) == 5 and all(a.rescue for a in creates)  # Jan 9 .. Jan 13
    assert {w.kind for w in result.warnings} >= {"far_future", "default_rows"}


def test_interval_change_fills_to_the_next_aligned_boundary():
    monthly = Policy(
        table=TableName("public", "e"), interval_unit="months", interval_count=1, premake=0
    )
    now = datetime(2024, 1, 15, tzinfo=UTC)
    history = simulate(state_of(monthly), plan([state_of(monthly)], now, BIG).actions)  # Jan
    quarterly = replace(monthly, interval_count=3, premake=1)
    creates = plan([replace(history, policy=quarterly)], now, BIG).actions
    spans = [(a.lower.date().isoformat(), a.upper.date().isoformat()) for a in creates]
    assert spans == [("2024-02-01", "2024-04-01"), ("2024-04-01", "2024-07-01")]


def test_gaps_overlaps_and_unbounded_partitions_are_warnings():
    policy = Policy(
        table=TableName("public", "e"), interval_unit="days", interval_count=1, premake=0
    )
    d = lambda day: datetime(2024, 1, day, tzinfo=UTC)  # noqa: E731
    parts = [
        Partition("public", "a", d(1), d(2)),
        Partition("public", "b", d(4), d(5)),
        Partition("public", "old", None, d(1)),
    ]
    result = plan([state_of(policy, parts)], d(10), BIG)
    kinds = {w.kind for w in result.warnings}
    assert {"gap", "unmanaged"} <= kinds


@settings(max_examples=80, deadline=None)
@given(policies(), st.lists(policies(), min_size=1, max_size=4), instants, st.integers(0, 3))
def test_tables_planned_together_get_what_each_gets_alone(base, others, now, history):
    # one plan shares windows and cut-offs between tables of the same shape: tables that
    # differ from the first in only one of premake, retention or zone get their own
    drawn = [base]
    for i, o in enumerate(others):
        field = ("premake", "retention", "timezone", "interval")[i % 4]
        if field == "interval":
            change = {"interval_unit": o.interval_unit, "interval_count": o.interval_count}
        else:
            change = {field: getattr(o, field)}
        drawn.append(replace(base, **change))
    states = []
    for i, p in enumerate(drawn):
        policy = replace(p, table=TableName("public", f"t{i}"))
        state = state_of(policy)
        for months in range(history, 0, -1):  # some history, from an earlier now
            state = simulate(state, plan([state], now - timedelta(days=30 * months), 50).actions)
        states.append(state)
    together = plan(states, now, 50)
    for state in states:
        alone = plan([state], now, 50)
        assert together.for_table(state.policy.table) == alone.actions


@settings(max_examples=300, deadline=None)
@given(
    policy=policies(),
    now=instants,
    earlier=st.floats(0, 1),
    drop=st.integers(0, 12),
    extra=st.integers(-40, 40),
    default=st.booleans(),
    keep_empty=st.booleans(),
)
def test_the_settled_shortcut_agrees_with_the_full_plan(
    policy, now, earlier, drop, extra, default, keep_empty
):
    # states made by planning up to one period earlier (the cut-off may have passed a
    # bound since), some with a partition missing, an extra one overlapping or leaving
    # a gap, a default partition, or a policy asking for one: whenever the shortcut says
    # "nothing to do", the full steps find nothing either
    from pgwarden.partitions.planner import _settled, _shape, _steps

    policy = replace(policy, default_mode="keep-empty" if keep_empty else "none")
    period = policy.interval_count * (31 if policy.interval_unit == "months" else 1)
    state = state_of(policy)
    then = now - timedelta(days=period * earlier)
    state = simulate(state, plan([state], then, 1000).actions)
    parts = sorted(state.partitions, key=lambda x: x.lower)
    if parts and drop < len(parts) and drop % 3 == 0:
        parts.pop(drop)
    if parts and extra:
        lo = parts[-1].upper + timedelta(hours=extra)
        parts.append(Partition("public", "extra", lo, lo + timedelta(days=1)))
    if default:
        parts.append(Partition("public", "events_default", None, None, is_default=True))
    state = replace(state, partitions=tuple(parts))
    shape = _shape(policy, now, None)
    if _settled(state, shape):
        assert _steps(state, 1000, shape) == ([], [])


def test_a_partition_expired_since_the_last_run_is_not_settled():
    # monthly, 45 days' retention: planned on March 2nd, January's partition (up to
    # February 1st) is kept; by March 20th it has expired, with the window still covered
    policy = Policy(
        table=TableName("public", "events"),
        interval_unit="months",
        interval_count=1,
        premake=2,
        retention=Span(0, 45),
    )
    state = state_of(policy)
    for when in (datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)):
        state = simulate(state, plan([state], when, 1000).actions)
    assert plan([state], datetime(2025, 3, 2, tzinfo=UTC), 1000).actions == []
    later = plan([state], datetime(2025, 3, 20, tzinfo=UTC), 1000)
    assert [(a.kind, a.upper) for a in later.actions] == [(DROP, datetime(2025, 2, 1, tzinfo=UTC))]


def test_an_actions_bounds_are_shown_in_their_own_zone():
    # equal instants in two zones are equal datetimes: the text must follow each one's zone
    from zoneinfo import ZoneInfo

    from pgwarden.partitions.planner import Action

    t = TableName("public", "events")
    utc = datetime(2025, 3, 1, 23, tzinfo=UTC)
    berlin = utc.astimezone(ZoneInfo("Europe/Berlin"))
    first = Action(t, DROP, "p1", "public", utc, utc).to_dict()
    second = Action(t, DROP, "p1", "public", berlin, berlin).to_dict()
    assert first["lower"] == "2025-03-01T23:00:00+00:00"
    assert second["lower"] == "2025-03-02T00:00:00+01:00"


@settings(max_examples=200, deadline=None)
@given(
    policy=policies(),
    now=instants,
    earlier=st.integers(0, 3),
    fractions=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=5),
)
def test_a_quiet_span_holds_no_plan(policy, now, earlier, fractions):
    # states planned some periods before `now` and again at `now`: whenever the planner
    # gives a quiet span, the full plan is empty, with no warning, at every instant in it,
    # and the span ends by the next period boundary
    from pgwarden.partitions.planner import quiet_until

    period = policy.interval_count * (31 if policy.interval_unit == "months" else 1)
    state = state_of(policy)
    for when in (now - timedelta(days=period * earlier), now):
        state = simulate(state, plan([state], when, BIG).actions)
    until = quiet_until(state, now)
    if until is None:
        return
    assert until > now
    current, _, _ = window(policy, now)
    unit, count = policy.interval_unit, policy.interval_count
    assert until <= bounds.boundary(unit, count, current + 1, policy.tz)
    last = until - timedelta(microseconds=1)
    # (a float fraction of the span can round up to its end: kept inside)
    for t in [now, last, *(min(now + (until - now) * f, last) for f in fractions)]:
        inside = plan([state], t, BIG)
        assert (inside.actions, inside.warnings) == ([], []), t


def _planned(policy: Policy, *whens: datetime) -> TableState:
    state = state_of(policy)
    for when in whens:
        state = simulate(state, plan([state], when, BIG).actions)
    return state


def test_quiet_until_the_next_local_period_or_the_oldest_partitions_expiry():
    from pgwarden.partitions.planner import quiet_until

    now = datetime(2024, 3, 10, 12, tzinfo=UTC)
    daily = Policy(table=TableName("public", "events"), interval_unit="days", premake=2)
    assert quiet_until(_planned(daily, now), now) == datetime(2024, 3, 11, tzinfo=UTC)
    paris = replace(daily, timezone="Europe/Paris")
    assert quiet_until(_planned(paris, now), now) == datetime(2024, 3, 10, 23, tzinfo=UTC)
    monthly = replace(daily, interval_unit="months")
    assert quiet_until(_planned(monthly, now), now) == datetime(2024, 4, 1, tzinfo=UTC)
    # two days' retention, partitions from March 8th: the oldest (up to March 9th) expires
    # at midnight, the span ends three hours before
    kept = replace(daily, retention=Span(0, 2))
    state = _planned(kept, now - timedelta(days=2), now)
    assert min(p.upper for p in state.partitions) == datetime(2024, 3, 9, tzinfo=UTC)
    assert quiet_until(state, now) == datetime(2024, 3, 10, 21, tzinfo=UTC)
    assert [a.kind for a in plan([state], datetime(2024, 3, 11, tzinfo=UTC), BIG).actions] == [
        CREATE,
        DROP,
    ]


def test_no_quiet_span_for_a_table_with_something_to_do_or_already_quiet():
    from pgwarden.partitions.planner import quiet_until

    now = datetime(2024, 3, 10, 12, tzinfo=UTC)
    daily = Policy(table=TableName("public", "events"), interval_unit="days", premake=2)
    state = _planned(daily, now)
    assert quiet_until(replace(state, partitions=state.partitions[:-1]), now) is None  # short
    assert quiet_until(state_of(daily), now) is None  # no partitions yet
    with_default = (*state.partitions, Partition("public", "d", None, None, is_default=True))
    assert quiet_until(replace(state, partitions=with_default), now) is None
    assert quiet_until(replace(state, quiet=True), now) is None
    assert quiet_until(replace(state, exists=False), now) is None
