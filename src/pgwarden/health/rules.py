"""Alert rules as data: load, evaluate on snapshots with `for:` windows, export (pure).

A rule names a *measure* (a function of two consecutive snapshots returning
one value per key: the database, the table, the slot, or "" for the
server), a comparison and a `for:` window. It fires for a key when the
comparison held at every snapshot since the first one of the current run
and that run is at least `for` old at `now` (the clock is passed in).
A measure that has nothing to say at a snapshot (no traffic, no new
statement sample) returns None there: that snapshot neither breaks nor
extends a run.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pgwarden.errors import InputInvalid
from pgwarden.health import statement_stats as statements
from pgwarden.health.families import XID_LIMIT
from pgwarden.health.findings import lock_chains
from pgwarden.health.snapshot import Snapshot

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
SEVERITIES = {"critical": "critical", "warning": "high", "info": "medium"}
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Values = dict[str, float] | None
Measure = Callable[[Snapshot | None, Snapshot, Mapping[str, Any]], Values]


def parse_duration(text: str, field_name: str = "for") -> timedelta:
    m = _DURATION.match(str(text).strip())
    if not m:
        raise InputInvalid(field_name, text, "must look like 30s, 5m, 12h or 1d")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class Rule:
    alert: str
    severity: str
    for_: timedelta
    for_text: str
    measure: str
    op: str
    threshold: float
    summary: str
    expr: str
    fix: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Firing:
    rule: Rule
    key: str
    value: float
    since: datetime

    def title(self, target: str) -> str:
        try:
            return self.rule.summary.format(target=target, key=self.key or target,
                                            value=self.value)  # fmt: skip
        except (KeyError, ValueError, IndexError):
            return f"{self.rule.alert} on {target} {self.key}".strip()


# -- measures ----------------------------------------------------------------


def _elapsed(prev: Snapshot, cur: Snapshot) -> float:
    return max(1e-9, (cur.taken_at - prev.taken_at).total_seconds())


def _by_db(s: Snapshot) -> dict[str, dict[str, Any]]:
    return {str(r["datname"]): r for r in s.rows("database")}


def _delta(prev: Snapshot | None, cur: Snapshot, col: str) -> dict[str, float] | None:
    if prev is None or not prev.up or not cur.up:
        return None
    before = _by_db(prev)
    out = {}
    for name, r in _by_db(cur).items():
        p = before.get(name)
        if p is None or float(r[col]) < float(p[col]):
            continue  # new database or stats reset: no rate this time
        out[name] = float(r[col]) - float(p[col])
    return out


def m_up(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    return {"": 1.0 if cur.up else 0.0}


def m_uptime(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    server = cur.one("server")
    if not server:
        return None
    return {"": float(server["now"]) - float(server["start_time"])}


def m_collector_errors(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    if not cur.up:
        return None
    return {"": float(sum(1 for r in cur.results.values() if not r.ok))}


def m_connections(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    settings = cur.settings()
    rows = cur.rows("activity")
    if not rows or "max_connections" not in settings:
        return None
    usable = settings["max_connections"] - settings.get("superuser_reserved_connections", 0)
    used = sum(float(r["count"]) for r in rows)
    return {"": used / usable if usable > 0 else 1.0}


def m_cache_hit(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    hit, read = _delta(prev, cur, "blks_hit"), _delta(prev, cur, "blks_read")
    if hit is None or read is None or prev is None:
        return None
    floor = float(p.get("min_blocks_per_second", 10)) * _elapsed(prev, cur)
    return {
        db: hit[db] / (hit[db] + read[db])
        for db in hit
        if db in read and hit[db] + read[db] >= floor and hit[db] + read[db] > 0
    }


def m_rollback(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    rb, cm = _delta(prev, cur, "xact_rollback"), _delta(prev, cur, "xact_commit")
    if rb is None or cm is None or prev is None:
        return None
    floor = float(p.get("min_xacts_per_second", 1)) * _elapsed(prev, cur)
    return {
        db: rb[db] / (rb[db] + cm[db])
        for db in rb
        if db in cm and rb[db] + cm[db] >= floor and rb[db] + cm[db] > 0
    }


def m_deadlocks(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    d = _delta(prev, cur, "deadlocks")
    if d is None or prev is None:
        return None
    return {db: v * 60 / _elapsed(prev, cur) for db, v in d.items()}


def m_dead_ratio(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    if "tables" not in cur.results:
        return None
    floor = float(p.get("min_dead_tuples", 1000))
    out = {}
    for r in cur.rows("tables"):
        dead, live = float(r.get("n_dead_tup") or 0), float(r.get("n_live_tup") or 0)
        if dead >= floor and dead + live > 0:
            out[f"{r['schemaname']}.{r['relname']}"] = dead / (dead + live)
    return out


def m_vacuum_debt(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    if "vacuum_debt" not in cur.results:
        return None
    return {d["table"]: float(d["n_dead_tup"] - d["trigger"]) for d in cur.rows("vacuum_debt")}


def _session(col: str) -> Measure:
    def measure(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
        s = cur.one("sessions")
        return {"": float(s.get(col) or 0)} if s else None

    return measure


def m_lock_wait(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    if "lock_waits" not in cur.results:
        return None
    chains = lock_chains(cur.rows("lock_waits"))
    return {"": max((w.wait_seconds for w in chains), default=0.0)}


def m_locks_ratio(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    s = cur.settings()
    rows = cur.rows("locks")
    room = s.get("max_locks_per_transaction", 0) * s.get("max_connections", 0)
    if not rows or room <= 0:
        return None
    return {"": sum(float(r["count"]) for r in rows) / room}


def m_statement_p95(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    a, b = (prev.results.get("statements") if prev else None), cur.results.get("statements")
    if a is None or b is None or not a.ok or not b.ok or a.taken_at == b.taken_at:
        return None  # no new sample between these snapshots

    def conv(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "total_exec_ms": r.get("total_exec_time")} for r in rows]

    value = statements.p95_mean_ms(statements.diff(conv(a.rows), conv(b.rows)))
    return {"": value} if value is not None else {}


def _headroom(col: str) -> Measure:
    def measure(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
        if "wraparound" not in cur.results:
            return None
        return {str(r["datname"]): 1 - float(r[col]) / XID_LIMIT for r in cur.rows("wraparound")}

    return measure


def m_replication_lag(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    s = cur.one("server")
    if not s:
        return None
    return {"": float(s.get("lag_seconds") or 0) if s.get("is_replica") else 0.0}


def m_inactive_slots(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    if "slots" not in cur.results:
        return None
    return {
        str(r["slot_name"]): float(r["retained_bytes"])
        for r in cur.rows("slots")
        if not r["active"]
    }


def m_archiver(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    a, b = (prev.one("archiver") if prev else {}), cur.one("archiver")
    if not a or not b or float(b["failed_count"]) < float(a["failed_count"]):
        return None
    return {"": float(b["failed_count"]) - float(a["failed_count"])}


def m_checkpoints(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    a, b = (prev.one("bgwriter") if prev else {}), cur.one("bgwriter")
    if not a or not b:
        return None
    req = float(b["checkpoints_req"]) - float(a["checkpoints_req"])
    timed = float(b["checkpoints_timed"]) - float(a["checkpoints_timed"])
    if req < 0 or timed < 0 or req + timed < float(p.get("min_checkpoints", 3)):
        return None
    return {"": req / (req + timed)}


def m_invalid_indexes(prev: Snapshot | None, cur: Snapshot, p: Mapping[str, Any]) -> Values:
    f = cur.one("index_findings")
    return {"": float(len(f.get("invalid") or []))} if f else None


MEASURES: dict[str, Measure] = {
    "up": m_up,
    "uptime_seconds": m_uptime,
    "collector_errors": m_collector_errors,
    "connections_ratio": m_connections,
    "cache_hit_ratio": m_cache_hit,
    "rollback_ratio": m_rollback,
    "deadlocks_per_minute": m_deadlocks,
    "dead_tuple_ratio": m_dead_ratio,
    "vacuum_debt": m_vacuum_debt,
    "longest_active_transaction_seconds": _session("longest_active_transaction_seconds"),
    "idle_in_transaction_seconds": _session("idle_in_transaction_max_seconds"),
    "lock_wait_seconds": m_lock_wait,
    "locks_ratio": m_locks_ratio,
    "statement_p95_ms": m_statement_p95,
    "xid_headroom": _headroom("xid_age"),
    "mxid_headroom": _headroom("mxid_age"),
    "replication_lag_seconds": m_replication_lag,
    "inactive_slot_bytes": m_inactive_slots,
    "archiver_failures": m_archiver,
    "checkpoints_requested_ratio": m_checkpoints,
    "invalid_indexes": m_invalid_indexes,
}


# -- loading -----------------------------------------------------------------


def _rule(d: Mapping[str, Any], where: str) -> Rule:
    name = d.get("alert")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise InputInvalid(f"{where}.alert", name, "must be a rule name (letters, digits, _)")
    at = f"{where} ({name})"
    for key in ("measure", "op", "threshold", "severity", "expr", "summary"):
        if key not in d:
            raise InputInvalid(f"{at}.{key}", None, "is required")
    if d["measure"] not in MEASURES:
        raise InputInvalid(f"{at}.measure", d["measure"],
                           f"must be one of {', '.join(sorted(MEASURES))}")  # fmt: skip
    if d["op"] not in OPS:
        raise InputInvalid(f"{at}.op", d["op"], f"must be one of {' '.join(OPS)}")
    if d["severity"] not in SEVERITIES:
        raise InputInvalid(f"{at}.severity", d["severity"], "must be critical, warning or info")
    try:
        threshold = float(d["threshold"])
    except (TypeError, ValueError):
        raise InputInvalid(f"{at}.threshold", d["threshold"], "must be a number") from None
    for_text = str(d.get("for", "0m"))
    return Rule(
        alert=name, severity=d["severity"], for_=parse_duration(for_text, f"{at}.for"),
        for_text=for_text, measure=d["measure"], op=d["op"], threshold=threshold,
        summary=str(d["summary"]), expr=" ".join(str(d["expr"]).split()),
        fix=str(d.get("fix") or ""), params=dict(d.get("params") or {}),
    )  # fmt: skip


def parse(text: str, where: str = "rules") -> list[Rule]:
    """Rules from YAML text; InputInvalid names the rule and field of the first problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputInvalid(where, "<yaml>", f"is not valid YAML: {exc}") from exc
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputInvalid(where, type(data).__name__, "must be a mapping with a 'rules' list")
    out = [_rule(d if isinstance(d, dict) else {}, f"{where}[{i}]") for i, d in enumerate(items)]
    seen: set[str] = set()
    for r in out:
        if r.alert in seen:
            raise InputInvalid(f"{where}.alert", r.alert, "is defined twice")
        seen.add(r.alert)
    return out


def shipped_text() -> str:
    return resources.files("pgwarden.health").joinpath("rules.yaml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> list[Rule]:
    """The shipped rules, or the file at `path` instead of them."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise InputInvalid("health.rules_path", str(p), "no such file")
        return parse(p.read_text(encoding="utf-8"), str(p))
    return parse(shipped_text(), "rules.yaml")


# -- evaluation --------------------------------------------------------------


@dataclass
class RuleState:
    """Runs in progress per (rule, key), carried from one snapshot to the next.

    Feeding snapshots one at a time (`step`) gives the same answer as
    `evaluate` over the whole history, so a process keeps this between rounds
    instead of re-reading hours of snapshots for a 12 h `for:` window.
    """

    runs: dict[tuple[str, str], tuple[datetime, float]] = field(default_factory=dict)
    last: Snapshot | None = None

    def step(self, rules: Sequence[Rule], snap: Snapshot) -> None:
        prev = self.last
        for rule in rules:
            values = MEASURES[rule.measure](prev, snap, rule.params)
            if values is None:
                continue  # nothing to say at this snapshot: the runs carry on unchanged
            compare = OPS[rule.op]
            for key, value in values.items():
                k = (rule.alert, key)
                if value is not None and compare(float(value), rule.threshold):
                    start = self.runs[k][0] if k in self.runs else snap.taken_at
                    self.runs[k] = (start, float(value))
                else:
                    self.runs.pop(k, None)
            for k in [k for k in self.runs if k[0] == rule.alert and k[1] not in values]:
                self.runs.pop(k)
        self.last = snap

    def firing(self, rules: Sequence[Rule], now: datetime) -> list[Firing]:
        by_name = {r.alert: r for r in rules}
        out = []
        for (alert, key), (start, value) in sorted(self.runs.items()):
            rule = by_name.get(alert)
            if rule is not None and now - start >= rule.for_:
                out.append(Firing(rule, key, value, start))
        return out


def evaluate(rules: Sequence[Rule], snaps: Sequence[Snapshot], now: datetime) -> list[Firing]:
    """Rules firing at `now` for one target's snapshots (oldest first)."""
    state = RuleState()
    for snap in snaps:
        if snap.taken_at > now:
            break
        state.step(rules, snap)
    return state.firing(rules, now)


def window(rules: Sequence[Rule]) -> timedelta:
    """How much history evaluation needs: the longest `for:` plus two rounds."""
    return max((r.for_ for r in rules), default=timedelta(0)) + timedelta(minutes=3)


# -- export ------------------------------------------------------------------


def to_prometheus(rules: Sequence[Rule]) -> str:
    """A Prometheus rule file (promtool check rules accepts it)."""
    group = {
        "name": "pgwarden-health",
        "rules": [
            {
                "alert": r.alert,
                "expr": r.expr,
                "for": r.for_text,
                "labels": {"severity": r.severity},
                "annotations": {
                    "summary": _prom_text(r.summary),
                    "description": _prom_text(r.fix),
                },
            }
            for r in rules
        ],
    }
    header = "# generated by `pgwarden health rules --prometheus`\n"
    return header + yaml.safe_dump({"groups": [group]}, sort_keys=False, width=100)


def _prom_text(text: str) -> str:
    """Our `{target}` / `{key}` / `{value:...}` placeholders in Prometheus template syntax."""
    text = text.replace("{target}", "{{ $labels.target }}")
    # the key is a table (schema.table), a slot or a database, whichever labels the series has
    key = (
        "{{ with $labels.relname }}{{ $labels.schemaname }}.{{ . }}{{ else }}"
        "{{ with $labels.slot_name }}{{ . }}{{ else }}{{ $labels.datname }}{{ end }}{{ end }}"
    )
    text = text.replace("{key}", key)
    text = re.sub(r"\{value:[^}]*%\}", "{{ $value | humanizePercentage }}", text)
    return re.sub(r"\{value(:[^}]*)?\}", "{{ $value }}", text)
