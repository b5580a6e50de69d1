"""Shadow vs primary on the same cycles: agreement, score deltas, errors, latency.

Every SHADOW or CHALLENGER run is paired with the run that was PRIMARY in
the same cycle, and outputs are joined on `entity_key`:

- cycles: cycles where both ran (neither SKIPPED); error rate and primary
  error rate are FAILED+TIMEOUT over those;
- paired cycles: both OK; coverage = shared entities / PRIMARY entities;
- agreement = same `decision` / entities where both decided; a flip is a
  disagreement, counted per `primary->candidate` pair of labels;
- score deltas (candidate - primary): signed mean, p50/p95/max of |delta|,
  linear-interpolated percentiles; Spearman rank correlation (average ranks
  for ties) over all paired scores;
- latency ratio = candidate p50 duration / PRIMARY p50 duration;
- a verdict against the promotion gates; a gate whose metric does not apply
  (no decisions, no entity keys) is reported as n/a and does not fail.

The computation is pure (`compare_rows`); `compare` reads the rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pgwarden.db.queries import Queries
from pgwarden.models.base import check_model_id
from pgwarden.models.errors import ModelNotFound
from pgwarden.services import Services

_BAD = ("FAILED", "TIMEOUT")


@dataclass(frozen=True)
class GatePolicy:
    min_cycles: int = 20
    min_coverage: float = 0.95
    min_agreement: float = 0.90
    max_error_rate: float = 0.05
    max_latency_ratio: float = 2.0

    @classmethod
    def from_config(cls, config: Any) -> GatePolicy:
        return cls(
            min_cycles=int(config.get("models.gate_min_cycles")),
            min_coverage=float(config.get("models.gate_min_coverage")),
            min_agreement=float(config.get("models.gate_min_agreement")),
            max_error_rate=float(config.get("models.gate_max_error_rate")),
            max_latency_ratio=float(config.get("models.gate_max_latency_ratio")),
        )


@dataclass(frozen=True)
class Gate:
    name: str
    observed: float | None
    required: float
    kind: str  # "min" or "max"
    passed: bool | None  # None: does not apply

    def describe(self) -> str:
        if self.passed is None:
            return f"{self.name}: n/a"
        sign = ">=" if self.kind == "min" else "<="
        return f"{self.name} {_fmt(self.observed)} (needs {sign} {_fmt(self.required)})"


@dataclass(frozen=True)
class CandidateComparison:
    version: str
    version_id: int
    role: str
    primary_versions: tuple[str, ...]
    cycles: int
    paired_cycles: int
    primary_entities: int
    matched_entities: int
    coverage: float | None
    decisions_compared: int
    agreement: float | None
    flips: int
    flips_by_pair: dict[str, int]
    scores_compared: int
    mean_delta: float | None
    p50_abs_delta: float | None
    p95_abs_delta: float | None
    max_abs_delta: float | None
    rank_correlation: float | None
    error_rate: float | None
    primary_error_rate: float | None
    candidate_p50_ms: float | None
    primary_p50_ms: float | None
    latency_ratio: float | None
    gates: tuple[Gate, ...] = ()
    verdict: str = "FAIL"

    def failed_gates(self) -> list[str]:
        return [g.describe() for g in self.gates if g.passed is False]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["primary_versions"] = list(self.primary_versions)
        d["gates"] = [asdict(g) for g in self.gates]
        return d


@dataclass(frozen=True)
class Comparison:
    model_id: str
    since: datetime
    until: datetime
    cycles: int  # cycles with a PRIMARY run in the window
    candidates: tuple[CandidateComparison, ...] = field(default=())

    def candidate(self, version: str) -> CandidateComparison:
        for c in self.candidates:
            if c.version == version:
                return c
        raise KeyError(f"model {self.model_id!r}: version {version!r} has no candidate runs")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "cycles": self.cycles,
            "candidates": [c.to_dict() for c in self.candidates],
        }


# -- small statistics, pure ---------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties get the average of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = avg
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 2 or len(xs) != len(ys):
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# -- the comparison, pure -------------------------------------------------------


def compare_rows(
    runs: Iterable[Sequence[Any]],
    outputs: Iterable[Sequence[Any]],
    policy: GatePolicy,
) -> tuple[int, list[CandidateComparison]]:
    """runs: (cycle_id, version_id, version, role, status, duration_ms);
    outputs: (cycle_id, version_id, entity_key, score, decision).
    Returns (cycles with a PRIMARY run, one comparison per candidate version)."""
    primary: dict[str, tuple[int, str, str, float]] = {}
    cand_runs: dict[int, dict[str, tuple[str, float]]] = {}
    cand_info: dict[int, tuple[str, str]] = {}
    for cycle_id, version_id, version, role, status, duration in runs:
        if role == "PRIMARY":
            primary[cycle_id] = (version_id, version, status, float(duration or 0.0))
        else:
            cand_runs.setdefault(version_id, {})[cycle_id] = (status, float(duration or 0.0))
            cand_info[version_id] = (version, role)
    out_by: dict[tuple[str, int], dict[str, tuple[Any, Any]]] = {}
    for cycle_id, version_id, key, score, decision in outputs:
        out_by.setdefault((cycle_id, version_id), {})[key] = (score, decision)

    results = []
    for vid in sorted(cand_runs):
        version, role = cand_info[vid]
        cycles = 0
        cand_bad = prim_bad = 0
        paired = 0
        prim_versions: set[str] = set()
        prim_entities = matched = 0
        decided = agree = 0
        flips: Counter[str] = Counter()
        pairs_p: list[float] = []
        pairs_c: list[float] = []
        lat_c: list[float] = []
        lat_p: list[float] = []
        for cycle_id, (c_status, c_dur) in cand_runs[vid].items():
            p = primary.get(cycle_id)
            if p is None or p[2] == "SKIPPED" or c_status == "SKIPPED":
                continue
            p_vid, p_version, p_status, p_dur = p
            cycles += 1
            prim_versions.add(p_version)
            cand_bad += c_status in _BAD
            prim_bad += p_status in _BAD
            if c_status != "OK" or p_status != "OK":
                continue
            paired += 1
            lat_c.append(c_dur)
            lat_p.append(p_dur)
            p_out = out_by.get((cycle_id, p_vid), {})
            c_out = out_by.get((cycle_id, vid), {})
            prim_entities += len(p_out)
            for key, (p_score, p_dec) in p_out.items():
                if key not in c_out:
                    continue
                matched += 1
                c_score, c_dec = c_out[key]
                if p_dec is not None and c_dec is not None:
                    decided += 1
                    if p_dec == c_dec:
                        agree += 1
                    else:
                        flips[f"{p_dec}->{c_dec}"] += 1
                if p_score is not None and c_score is not None:
                    pairs_p.append(float(p_score))
                    pairs_c.append(float(c_score))
        deltas = [c - p for p, c in zip(pairs_p, pairs_c, strict=True)]
        abs_d = [abs(d) for d in deltas]
        c_p50 = percentile(lat_c, 0.5)
        p_p50 = percentile(lat_p, 0.5)
        comp = CandidateComparison(
            version=version,
            version_id=vid,
            role=role,
            primary_versions=tuple(sorted(prim_versions)),
            cycles=cycles,
            paired_cycles=paired,
            primary_entities=prim_entities,
            matched_entities=matched,
            coverage=_ratio(matched, prim_entities) if prim_entities else None,
            decisions_compared=decided,
            agreement=_ratio(agree, decided) if decided else None,
            flips=sum(flips.values()),
            flips_by_pair=dict(sorted(flips.items())),
            scores_compared=len(deltas),
            mean_delta=sum(deltas) / len(deltas) if deltas else None,
            p50_abs_delta=percentile(abs_d, 0.5),
            p95_abs_delta=percentile(abs_d, 0.95),
            max_abs_delta=max(abs_d) if abs_d else None,
            rank_correlation=spearman(pairs_p, pairs_c),
            error_rate=_ratio(cand_bad, cycles) if cycles else None,
            primary_error_rate=_ratio(prim_bad, cycles) if cycles else None,
            candidate_p50_ms=c_p50,
            primary_p50_ms=p_p50,
            latency_ratio=_ratio(c_p50, p_p50),
        )
        results.append(judge(comp, policy))
    return len(primary), results


def judge(c: CandidateComparison, policy: GatePolicy) -> CandidateComparison:
    """The comparison with its gates and verdict filled in."""

    def gate(name: str, observed: float | None, required: float, kind: str) -> Gate:
        if observed is None:
            return Gate(name, None, required, kind, None)
        ok = observed >= required if kind == "min" else observed <= required
        return Gate(name, observed, required, kind, ok)

    gates = (
        Gate("cycles", c.cycles, policy.min_cycles, "min", c.cycles >= policy.min_cycles),
        gate("coverage", c.coverage, policy.min_coverage, "min"),
        gate("agreement", c.agreement, policy.min_agreement, "min"),
        gate("error_rate", c.error_rate, policy.max_error_rate, "max"),
        gate("latency_ratio", c.latency_ratio, policy.max_latency_ratio, "max"),
    )
    verdict = "PASS" if all(g.passed is not False for g in gates) else "FAIL"
    return replace(c, gates=gates, verdict=verdict)


# -- the database edge ----------------------------------------------------------


def compare(
    services: Services,
    model_id: str,
    since: timedelta,
    *,
    now: datetime | None = None,
    policy: GatePolicy | None = None,
) -> Comparison:
    """Compare every SHADOW/CHALLENGER of `model_id` with its PRIMARY over the
    cycles of the last `since` (by cycle time). Raises ModelNotFound."""
    check_model_id(model_id)
    until = now or services.clock()
    start = until - since
    q = Queries("pgwarden.models", services.db.schema)
    policy = policy or GatePolicy.from_config(services.config)
    with services.db.connection() as conn:
        if conn.execute(q["model_exists"], {"model_id": model_id}).fetchone() is None:
            raise ModelNotFound(model_id)
        args = {"model_id": model_id, "since": start}
        runs = conn.execute(q["compare_runs"], args).fetchall()
        outputs = conn.execute(q["compare_outputs"], args).fetchall()
    cycles, candidates = compare_rows(runs, outputs, policy)
    return Comparison(model_id, start, until, cycles, tuple(candidates))
