"""pg_stat_statements samples -> per-statement deltas, top-N and regressions (pure).

Samples hold cumulative counters. Between two samples a statement's delta is
`current - previous`, except:

- the view was reset between them (`stats_reset` moved, PostgreSQL 14+'s
  pg_stat_statements_info): every entry counts from zero, delta = current;
- the entry's calls went down (evicted and re-entered, or reset by queryid):
  delta = current;
- the entry is new: delta = current.

Top-level and nested executions of one queryid (`toplevel`) stay separate
keys, so a function's body is never added twice to its caller's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

Key = tuple[int, int, int, bool]
FIELDS = ("calls", "total_exec_ms", "rows", "shared_blks_hit", "shared_blks_read")


def _key(r: Mapping[str, Any]) -> Key:
    return (int(r["queryid"]), int(r["userid"]), int(r["dbid"]), bool(r["toplevel"]))


def _n(r: Mapping[str, Any], k: str) -> float:
    v = r.get(k)
    return float(v) if v is not None else 0.0


@dataclass
class Delta:
    queryid: int
    userid: int
    dbid: int
    toplevel: bool
    usename: str
    datname: str
    query: str
    calls: float = 0.0
    total_exec_ms: float = 0.0
    rows: float = 0.0
    shared_blks_hit: float = 0.0
    shared_blks_read: float = 0.0
    resets: int = 0

    @property
    def mean_ms(self) -> float:
        return self.total_exec_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean_ms"] = self.mean_ms
        return d


def diff(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> dict[Key, Delta]:
    """Per key, what happened between two samples (see the module doc for resets)."""
    prev = {_key(r): r for r in previous}
    prev_reset = max((_n(r, "stats_reset") for r in previous), default=0.0)
    cur_reset = max((_n(r, "stats_reset") for r in current), default=0.0)
    was_reset = bool(previous) and cur_reset > prev_reset
    out: dict[Key, Delta] = {}
    for r in current:
        k = _key(r)
        d = Delta(k[0], k[1], k[2], k[3], str(r.get("usename") or ""),
                  str(r.get("datname") or ""), str(r.get("query") or ""))  # fmt: skip
        p = prev.get(k)
        if was_reset or p is None or _n(r, "calls") < _n(p, "calls"):
            base: Mapping[str, Any] = {}
            d.resets = 1 if (was_reset or p is not None) else 0
        else:
            base = p
        for f in FIELDS:
            setattr(d, f, max(0.0, _n(r, f) - _n(base, f)))
        if d.calls > 0:
            out[k] = d
    return out


def accumulate(samples: Iterable[Sequence[Mapping[str, Any]]]) -> dict[Key, Delta]:
    """Sum the deltas of consecutive samples (oldest first) over a window."""
    total: dict[Key, Delta] = {}
    previous: Sequence[Mapping[str, Any]] | None = None
    for sample in samples:
        if previous is not None:
            for k, d in diff(previous, sample).items():
                t = total.get(k)
                if t is None:
                    total[k] = d
                    continue
                for f in FIELDS:
                    setattr(t, f, getattr(t, f) + getattr(d, f))
                t.resets += d.resets
        previous = sample
    return total


def top_by_time(deltas: Mapping[Key, Delta], n: int) -> list[Delta]:
    return sorted(deltas.values(), key=lambda d: d.total_exec_ms, reverse=True)[: max(0, n)]


def regressions(
    now: Mapping[Key, Delta],
    before: Mapping[Key, Delta],
    *,
    min_calls: float = 10,
    min_ratio: float = 1.5,
    n: int = 20,
) -> list[dict[str, Any]]:
    """Statements whose mean time per call grew by `min_ratio` or more against `before`."""
    out = []
    for k, d in now.items():
        b = before.get(k)
        if b is None or d.calls < min_calls or b.calls < min_calls or b.mean_ms <= 0:
            continue
        ratio = d.mean_ms / b.mean_ms
        if ratio >= min_ratio:
            out.append({**d.to_dict(), "previous_mean_ms": b.mean_ms, "ratio": ratio})
    out.sort(key=lambda x: (x["mean_ms"] - x["previous_mean_ms"]) * x["calls"], reverse=True)
    return out[:n]


def p95_mean_ms(deltas: Mapping[Key, Delta]) -> float | None:
    """95th percentile of per-call time, weighting each statement's mean by its calls."""
    items = sorted((d.mean_ms, d.calls) for d in deltas.values() if d.calls > 0)
    total = sum(c for _, c in items)
    if not total:
        return None
    seen = 0.0
    for mean, calls in items:
        seen += calls
        if seen >= 0.95 * total:
            return mean
    return items[-1][0]
