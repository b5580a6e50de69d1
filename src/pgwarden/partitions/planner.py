"""The pure planner: (policies, partitions with bounds, now) -> actions and warnings.

Nothing here touches the database or the clock. A plan is a diff: the
partitions to create (filling every hole in the window from the current
period to `premake` periods after it), the default partition's rows to
rescue into them, and the expired partitions to archive, detach or drop.
Anything unexpected becomes a warning rather than an action, so a plan never
touches a partition it does not understand.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pgwarden.partitions import bounds, naming
from pgwarden.partitions.policy import Policy, TableName

# Sentinels for unbounded partitions when computing coverage.
_MIN = datetime(1, 1, 2, tzinfo=UTC)
_MAX = datetime(9999, 12, 30, tzinfo=UTC)

CREATE = "create"
CREATE_DEFAULT = "create_default"
FINALIZE = "finalize_detach"
ARCHIVE = "archive"
DETACH = "detach"
DROP = "drop"
ORDER = {FINALIZE: 0, CREATE: 1, CREATE_DEFAULT: 2, ARCHIVE: 3, DETACH: 3, DROP: 3}


class Partition(NamedTuple):
    """One child as the catalog describes it. `lower`/`upper` None means unbounded.

    A named tuple rather than a frozen dataclass: a run builds one per child of every
    managed parent (thousands), and a tuple is built four times faster (0.27 against
    1.04 us in CPython 3.11), the difference being a millisecond of a steady run."""

    schema: str
    name: str
    lower: datetime | None
    upper: datetime | None
    is_default: bool = False
    detach_pending: bool = False
    relkind: str = "r"  # r table, p partitioned (sub-partitions), f foreign

    @property
    def managed(self) -> bool:
        return (
            not self.is_default
            and self.relkind == "r"
            and self.lower is not None
            and self.upper is not None
        )


@dataclass(frozen=True)
class DefaultRows:
    count: int
    oldest: datetime | None
    newest: datetime | None


@dataclass(frozen=True)
class Identity:
    """What a run read of a parent, as its quiet stamp records it: the parent's oid, its
    policy row's version, and the count and hash of its pg_inherits rows."""

    parent_oid: int
    policy_version: str
    children: int
    children_hash: int


@dataclass(frozen=True)
class TableState:
    """One managed parent as found by the catalog query.

    `quiet`: the parent's stamp from an earlier run still holds (nothing it depends on has
    changed and its quiet span has not ended), so its children were not read and its plan
    is empty (see `quiet_until`)."""

    policy: Policy
    exists: bool = True
    range_partitioned: bool = True
    key_column: str | None = None
    key_type: str | None = None
    partitions: tuple[Partition, ...] = ()
    default_rows: DefaultRows | None = None
    quiet: bool = False
    identity: Identity | None = None

    @property
    def default(self) -> Partition | None:
        return next((p for p in self.partitions if p.is_default), None)


@dataclass(frozen=True, slots=True)
class Action:
    table: TableName
    kind: str
    partition: str
    schema: str
    lower: datetime | None = None
    upper: datetime | None = None
    rescue: bool = False  # move matching rows out of the default partition first
    pending: bool = False  # the partition is a detach left pending; finalize instead
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": _shown(self.table),
            "action": self.kind,
            "partition": f"{self.schema}.{self.partition}",
            "lower": _iso(self.lower) if self.lower else None,
            "upper": _iso(self.upper) if self.upper else None,
            "rescue_default": self.rescue,
            "reason": self.reason,
        }


# A run's record lists every action (783 in the retention benchmark) with its table and
# bounds as text; tables and bounds repeat from one action to the next, so each is
# formatted once: 2.6 -> 1.0 ms for those 783 (CPython 3.11).
_shown = functools.lru_cache(maxsize=4096)(str)


def _iso(instant: datetime) -> str:
    # keyed by the zone too: equal instants in two zones are equal datetimes, but their
    # text differs
    return _iso_in(instant, instant.tzinfo)


@functools.lru_cache(maxsize=4096)
def _iso_in(instant: datetime, _zone: object) -> str:
    return instant.isoformat()


@dataclass(frozen=True)
class PlanWarning:
    table: TableName
    kind: str  # missing, invalid, gap, overlap, unmanaged, default_rows, far_future, guard, ...
    message: str
    partition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": str(self.table),
            "kind": self.kind,
            "message": self.message,
            "partition": self.partition,
        }


@dataclass
class Plan:
    now: datetime
    actions: list[Action] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    tables: list[TableName] = field(default_factory=list)

    def for_table(self, table: TableName) -> list[Action]:
        return [a for a in self.actions if a.table == table]

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "tables": [str(t) for t in self.tables],
            "actions": [a.to_dict() for a in self.actions],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def plan(states: Iterable[TableState], now: datetime, max_create: int) -> Plan:
    """Plan every enabled table, in the fixed order (priority, schema, name)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    result = Plan(now=now)
    ordered = sorted(states, key=lambda s: (s.policy.priority, s.policy.table.key))
    # Parents with the same interval, premake, retention and zone (a hundred daily
    # tables) share their window and cut-off: computed once per shape, not per table.
    shapes: dict[tuple[Any, ...], _Shape] = {}
    for state in ordered:
        if not state.policy.enabled:
            continue
        result.tables.append(state.policy.table)
        actions, warnings = plan_table(state, now, max_create, shapes)
        result.actions.extend(actions)
        result.warnings.extend(warnings)
    return result


def window(policy: Policy, now: datetime) -> tuple[int, datetime, datetime]:
    """(current period index, window start, window end) for `now`."""
    tz = policy.tz
    unit, count = policy.interval_unit, policy.interval_count
    current = bounds.period_index(unit, count, bounds.local_date(now, tz))
    lo = bounds.boundary(unit, count, current, tz)
    hi = bounds.boundary(unit, count, current + policy.premake + 1, tz)
    return current, lo, hi


def retention_cutoff(policy: Policy, now: datetime) -> datetime | None:
    """Partitions whose upper bound is at or before this instant hold only expired rows."""
    if policy.retention is None:
        return None
    r = policy.retention
    return bounds.minus_span(now, r.months, r.days, policy.tz)


@dataclass(frozen=True)
class _Shape:
    """What every table of one policy shape shares at one `now`."""

    cutoff: datetime | None
    current: int
    win_lo: datetime
    win_hi: datetime
    reason: str  # a retention action's reason


def _shape(p: Policy, now: datetime, shapes: dict[tuple[Any, ...], _Shape] | None) -> _Shape:
    r = p.retention
    key = (
        p.interval_unit,
        p.interval_count,
        p.premake,
        p.timezone,
        (r.months, r.days) if r is not None else None,
    )
    found = shapes.get(key) if shapes is not None else None
    if found is None:
        cutoff = retention_cutoff(p, now)
        current, lo, hi = window(p, now)
        reason = (
            f"upper bound at or before the retention cut-off {cutoff:%Y-%m-%d %H:%M} UTC"
            if cutoff is not None
            else ""
        )
        found = _Shape(cutoff, current, lo, hi, reason)
        if shapes is not None:
            shapes[key] = found
    return found


def plan_table(
    state: TableState,
    now: datetime,
    max_create: int,
    shapes: dict[tuple[Any, ...], _Shape] | None = None,
) -> tuple[list[Action], list[PlanWarning]]:
    """What one table needs at `now`: (actions, warnings), step by step.

    A table that is missing or not range-partitioned on time gets one warning.
    Otherwise: the existing partitions (an interrupted detach is finalized,
    an unmanaged partition reported), their gaps and overlaps, the periods
    wanted (the premake window, and the span of the default partition's rows
    to rescue), the missing partitions to create (at most `max_create`), the
    default partition the policy asks for, then retention.
    """
    refusal = _refusal(state)
    if refusal is not None:
        return [], [refusal]
    if state.quiet:
        return [], []
    shape = _shape(state.policy, now, shapes)
    if _settled(state, shape):
        return [], []
    return _steps(state, max_create, shape)


def _steps(
    state: TableState, max_create: int, shape: _Shape
) -> tuple[list[Action], list[PlanWarning]]:
    """plan_table's steps for a table the planner can work on."""
    p = state.policy
    warnings: list[PlanWarning] = []
    cutoff = shape.cutoff
    actions, coverage = _existing(state, cutoff, warnings)
    _check_coverage(p.table, coverage, warnings)
    current, win_lo, win_hi = shape.current, shape.win_lo, shape.win_hi
    wanted = [(win_lo, win_hi)]
    rescue_span = _rescue_span(state, cutoff, current, max_create, warnings)
    if rescue_span is not None:
        wanted.append(rescue_span)
    pieces = _missing(p, wanted, coverage, max_create, warnings)
    creates, taken = _creations(state, pieces, win_hi)
    actions.extend(creates)
    actions.extend(_default_partition(state, taken, win_lo, warnings))
    if cutoff is not None:
        actions.extend(_retention(state, cutoff, len(creates), warnings, shape.reason))
    return actions, warnings


def _settled(state: TableState, shape: _Shape) -> bool:
    """Whether `_steps` would find nothing to do and nothing to warn about, checked
    in one pass: the common case of a steady run (a hundred tables, a few milliseconds
    of planning otherwise). True only for plain bounded partitions, none pending, no
    default partition or policy asking for one, contiguous from the window's start to
    at least its end, none expired."""
    if state.policy.default_mode != "none" or not state.partitions:
        return False
    spans = []
    for x in state.partitions:
        if x.is_default or x.detach_pending or x.relkind != "r" or x.lower is None:
            return False
        if x.upper is None:
            return False
        spans.append((x.lower, x.upper))
    spans.sort()
    cutoff = shape.cutoff
    end = spans[0][0]
    if end > shape.win_lo:
        return False
    for lo, hi in spans:
        if lo != end or (cutoff is not None and hi <= cutoff):
            return False  # a gap, an overlap, or an expired partition
        end = hi
    return end >= shape.win_hi


# How far a retention cut-off, taken in wall-clock time, may run ahead of the same span
# taken in UTC: a time-zone offset change between the two ends (DST is one hour).
_CUTOFF_SLACK = timedelta(hours=3)


def quiet_until(state: TableState, now: datetime) -> datetime | None:
    """Until when `state`'s plan stays empty as long as its partitions and policy do not
    change; None when it is not empty at `now` (or has a warning).

    A settled table (see `_settled`) stays settled while its window and retention cut-off
    keep clear of its partitions. The window moves only when the period changes: at the
    next period boundary. The cut-off moves with time and reaches the oldest partition's
    upper bound U no sooner than U + the retention span, counting a month as 28 days
    (a month back is 28 to 31 days), less `_CUTOFF_SLACK`.
    """
    if _refusal(state) is not None or state.quiet:
        return None
    p = state.policy
    shape = _shape(p, now, None)
    if not _settled(state, shape):
        return None
    until = bounds.boundary(p.interval_unit, p.interval_count, shape.current + 1, p.tz)
    r = p.retention
    if r is not None:
        oldest = min(x.upper for x in state.partitions if x.upper is not None)
        until = min(until, oldest + timedelta(days=r.days + 28 * r.months) - _CUTOFF_SLACK)
        cutoff = retention_cutoff(p, until)
        if cutoff is not None and cutoff >= oldest:
            return None
    return until if until > now else None


def _refusal(state: TableState) -> PlanWarning | None:
    """The one warning for a table the planner cannot work on, or None."""
    t = state.policy.table
    if not state.exists:
        return PlanWarning(t, "missing", f"table {t} does not exist; nothing planned")
    if not state.range_partitioned or state.key_type not in bounds.KEY_TYPES:
        return PlanWarning(t, "invalid", f"table {t} is not range-partitioned on a time column")
    return None


def _existing(
    state: TableState, cutoff: datetime | None, warnings: list[PlanWarning]
) -> tuple[list[Action], list[tuple[datetime, datetime, Partition]]]:
    """Finalize actions for interrupted detaches, and the coverage of the existing partitions
    (sorted by bounds; unbounded ends as sentinels). Unmanaged partitions are warned about."""
    t = state.policy.table
    actions: list[Action] = []
    coverage: list[tuple[datetime, datetime, Partition]] = []
    for part in state.partitions:
        if part.is_default:
            continue
        managed = part.managed
        if not managed:
            why = "unbounded" if part.lower is None or part.upper is None else "not a plain table"
            warnings.append(
                PlanWarning(
                    t,
                    "unmanaged",
                    f"partition {part.name} is {why}; pgwarden will not touch it",
                    part.name,
                )
            )
        coverage.append((part.lower or _MIN, part.upper or _MAX, part))
        expired = managed and cutoff is not None and part.upper <= cutoff  # type: ignore[operator]
        # an expired pending partition is finalized by its retention action below
        if part.detach_pending and not expired:
            actions.append(
                Action(
                    t,
                    FINALIZE,
                    part.name,
                    part.schema,
                    part.lower,
                    part.upper,
                    pending=True,
                    reason="a detach was interrupted; finalize it",
                )
            )
    coverage.sort(key=lambda c: (c[0], c[1]))
    return actions, coverage


def _check_coverage(
    t: TableName,
    coverage: Sequence[tuple[datetime, datetime, Partition]],
    warnings: list[PlanWarning],
) -> None:
    """Warn about overlapping partitions and gaps between neighbours."""
    for (_, prev_hi, prev), (lo, _hi, part) in zip(coverage, coverage[1:], strict=False):
        if lo < prev_hi:
            warnings.append(
                PlanWarning(t, "overlap", f"{prev.name} and {part.name} overlap", part.name)
            )
        elif lo > prev_hi:
            warnings.append(
                PlanWarning(
                    t,
                    "gap",
                    f"no partition between {prev_hi:%Y-%m-%d %H:%M} and {lo:%Y-%m-%d %H:%M} UTC",
                    part.name,
                )
            )


def _rescue_span(
    state: TableState,
    cutoff: datetime | None,
    current: int,
    max_create: int,
    warnings: list[PlanWarning],
) -> tuple[datetime, datetime] | None:
    """The span of periods the default partition's rows need, or None.

    Rows older than the retention cut-off stay in the default; a span longer
    than `max_create` periods is cut at the premake window (both warned)."""
    p = state.policy
    t, tz, unit, count = p.table, p.tz, p.interval_unit, p.interval_count
    default, rows = state.default, state.default_rows
    if default is None or rows is None or rows.count <= 0:
        return None
    warnings.append(
        PlanWarning(
            t,
            "default_rows",
            f"{rows.count} row(s) in default partition {default.name}",
            default.name,
        )
    )
    if rows.oldest is None or rows.newest is None:
        return None
    lo_idx = bounds.period_index(unit, count, bounds.local_date(rows.oldest, tz))
    hi_idx = bounds.period_index(unit, count, bounds.local_date(rows.newest, tz))
    if cutoff is not None:
        keep_from = bounds.period_index(unit, count, bounds.local_date(cutoff, tz))
        if lo_idx < keep_from:
            warnings.append(
                PlanWarning(
                    t,
                    "expired_default_rows",
                    f"rows in {default.name} older than the retention cut-off stay there",
                    default.name,
                )
            )
        lo_idx = max(lo_idx, keep_from)
    span_lo = min(lo_idx, current)
    span_hi = max(hi_idx, current + p.premake)
    if span_hi - span_lo + 1 > max_create:
        warnings.append(
            PlanWarning(
                t,
                "far_future",
                f"rows in {default.name} reach {rows.newest:%Y-%m-%d}; rescuing them needs "
                f"{span_hi - span_lo + 1} periods, over the guard of {max_create}; "
                "they stay in the default partition",
                default.name,
            )
        )
        hi_idx = min(hi_idx, current + p.premake)
    if lo_idx > hi_idx:
        return None
    return bounds.boundary(unit, count, lo_idx, tz), bounds.boundary(unit, count, hi_idx + 1, tz)


def _missing(
    p: Policy,
    wanted: list[tuple[datetime, datetime]],
    coverage: Sequence[tuple[datetime, datetime, Partition]],
    max_create: int,
    warnings: list[PlanWarning],
) -> list[tuple[datetime, datetime]]:
    """The wanted periods no partition covers, one per partition, at most `max_create`."""
    pieces = _split(p, _subtract(_union(wanted), [(lo, hi) for lo, hi, _ in coverage]))
    if len(pieces) > max_create:
        warnings.append(
            PlanWarning(
                p.table,
                "guard",
                f"{len(pieces)} partitions are missing; creating the first "
                f"{max_create} (partitions.max_create_periods), the rest next run",
            )
        )
        pieces = pieces[:max_create]
    return pieces


def _creations(
    state: TableState, pieces: Sequence[tuple[datetime, datetime]], win_hi: datetime
) -> tuple[list[Action], set[str]]:
    """A CREATE action per missing period, named by the policy; and every name now taken."""
    p = state.policy
    t, tz = p.table, p.tz
    # Rows are moved only when the default holds some; a row that arrives after
    # planning makes ATTACH fail for this table, and the next run rescues it.
    rows = state.default_rows
    rescue = state.default is not None and rows is not None and rows.count > 0
    taken = {part.name for part in state.partitions}
    actions: list[Action] = []
    for lo, hi in pieces:
        name = naming.render(p.naming, t.name, bounds.local_date(lo, tz))
        if name in taken or len(name.encode()) > naming.MAX_BYTES:
            name = naming.fallback(t.name, bounds.local_date(lo, tz), bounds.local_date(hi, tz))
        taken.add(name)
        actions.append(
            Action(
                t,
                CREATE,
                name,
                t.schema,
                lo,
                hi,
                rescue=rescue,
                reason="inside the premake window" if lo < win_hi else "rescue default rows",
            )
        )
    return actions, taken


def _default_partition(
    state: TableState, taken: set[str], win_lo: datetime, warnings: list[PlanWarning]
) -> list[Action]:
    """The default partition the policy's default mode asks for (created, or warned about)."""
    p = state.policy
    t, default = p.table, state.default
    if p.default_mode == "keep-empty" and default is None:
        name = f"{t.name}_default"
        if name in taken or len(name.encode()) > naming.MAX_BYTES:
            name = naming.fallback(t.name, bounds.local_date(win_lo, p.tz), bounds.DAY_EPOCH)
        return [Action(t, CREATE_DEFAULT, name, t.schema, reason="default mode keep-empty")]
    if p.default_mode == "none" and default is not None:
        warnings.append(
            PlanWarning(
                t,
                "default_present",
                f"{default.name} is a default partition; it blocks DETACH CONCURRENTLY",
                default.name,
            )
        )
    return []


def _retention(
    state: TableState, cutoff: datetime, created: int, warnings: list[PlanWarning], reason: str
) -> list[Action]:
    p = state.policy
    t = p.table
    managed = sorted((x for x in state.partitions if x.managed), key=lambda x: x.lower or _MIN)
    # managed partitions have both bounds
    expired = [x for x in managed if x.upper <= cutoff]  # type: ignore[operator]
    # keep-at-least counts the partitions this same plan creates, so that a plan
    # applied and planned again has nothing left to do
    allowed = max(0, len(managed) + created - p.keep_at_least)
    if len(expired) > allowed:
        warnings.append(
            PlanWarning(
                t,
                "keep_at_least",
                f"{len(expired)} expired partition(s) but keep-at-least {p.keep_at_least} "
                f"leaves {allowed} to remove",
            )
        )
        expired = expired[:allowed]
    if len(expired) > p.max_drops_per_run:
        warnings.append(
            PlanWarning(
                t,
                "max_drops",
                f"{len(expired)} expired partition(s); removing {p.max_drops_per_run} this run "
                "(max drops per run)",
            )
        )
        expired = expired[: p.max_drops_per_run]
    kind = {"drop": DROP, "detach": DETACH, "archive": ARCHIVE}[p.retention_action]
    return [
        Action(
            t,
            kind,
            x.name,
            x.schema,
            x.lower,
            x.upper,
            pending=x.detach_pending,
            reason=reason,
        )
        for x in expired
    ]


def _union(spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if lo >= hi:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(
    wanted: list[tuple[datetime, datetime]], have: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of `wanted` that no span in `have` covers."""
    have = _union(have)
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in wanted:
        cur = lo
        for h_lo, h_hi in have:
            if h_hi <= cur or h_lo >= hi:
                continue
            if h_lo > cur:
                out.append((cur, h_lo))
            cur = max(cur, h_hi)
            if cur >= hi:
                break
        if cur < hi:
            out.append((cur, hi))
    return out


def _split(p: Policy, holes: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Cut holes at the policy's grid; a hole that starts or ends off the grid (an old
    interval's partitions end there) gives one partition spanning to the next boundary."""
    tz, unit, count = p.tz, p.interval_unit, p.interval_count
    pieces: list[tuple[datetime, datetime]] = []
    for lo, hi in holes:
        cur = lo
        while cur < hi:
            idx = bounds.period_index(unit, count, bounds.local_date(cur, tz))
            nxt = bounds.boundary(unit, count, idx + 1, tz)
            if nxt <= cur:  # defensive: never loop on a degenerate boundary
                nxt = bounds.boundary(unit, count, idx + 2, tz)
            end = min(nxt, hi)
            pieces.append((cur, end))
            cur = end
    return pieces
