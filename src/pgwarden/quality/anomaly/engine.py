"""All tests of one batch, then one multiple-testing decision and a severity (pure).

A batch is tested on volume, missing and format rates, arrival gap, and drift
and outliers of each numeric field. Which results are anomalies is decided
together with weighted Benjamini-Hochberg at this batch's share of the
false-discovery budget, which is set per HOUR of the source's time
(`fdr` x the source's cadence in hours): with every test null it is the
expected number of false anomalies per hour whatever the cadence, so
1/1440 means 0.5 per source-month for a source batching every 5 minutes as
for one batching every hour. The weights spend most of the budget on
volume; gated results (below their effect size) take part with their
p-value but can never be anomalies.

An anomaly's severity is graded on its effect and its evidence (`grade`):
medium for a marginal finding, high for a strong one, critical for an
extreme one; the alert path takes it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import tzinfo

from pgwarden.quality.anomaly import detectors
from pgwarden.quality.anomaly.detectors import DetectorSettings
from pgwarden.quality.anomaly.model import (
    DRIFT,
    FORMAT,
    MISSING,
    OUTLIERS,
    TIMING,
    VOLUME,
    BatchPoint,
    Evaluation,
    Status,
    TestResult,
)
from pgwarden.quality.anomaly.stats import weighted_bh


def numeric_fields(point: BatchPoint) -> list[str]:
    return sorted(name for name in point.field_stats if point.summary(name) is not None)


def evaluate(
    history: Sequence[BatchPoint],
    current: BatchPoint,
    tz: tzinfo,
    settings: DetectorSettings | None = None,
) -> Evaluation:
    """Test `current` against `history` (older batches of the same source, any order).

    `history` must not contain `current`; points after it are ignored.
    """
    s = settings or DetectorSettings()
    past = sorted(
        (
            p
            for p in history
            if p.received_at < current.received_at and p.batch_id != current.batch_id
        ),
        key=lambda p: p.received_at,
    )
    level = detectors.batch_level(past, s)
    results: list[TestResult] = [
        detectors.volume(past, current, tz, s, level),
        detectors.missing_rate(past, current, s),
        detectors.format_rate(past, current, s),
        detectors.arrival_gap(past, current, s),
    ]
    fields = numeric_fields(current)
    for name in fields:
        results.append(detectors.drift(past, current, name, s))
        results.append(detectors.outliers(past, current, name, s))
    return decide(results, s, current.batch_id, level)


#: (high from, critical from) on each metric's strength scale
TIERS = {
    VOLUME: (6.0, 10.0),  # |z| of the count, in null standard deviations
    MISSING: (3.0, 10.0),  # multiple of the usual rate
    FORMAT: (3.0, 10.0),
    OUTLIERS: (3.0, 10.0),
    TIMING: (3.0, 6.0),  # multiple of the usual gap
    DRIFT: (0.5, 1.5),  # PSI
}


def grade(r: TestResult, level: float) -> tuple[str, str]:
    """(severity, why) of an anomaly from its effect and the strength of its evidence.

    The effect sets the class (`TIERS`); a volume change of x2 (or /2) is at
    least high and of x5 (or /5) critical, whatever its z. Evidence only just
    past the test's level (p above a hundredth of it) caps the class at high:
    a marginal finding is never critical.
    """
    high, critical = TIERS.get(r.metric, (math.inf, math.inf))
    value = r.strength if r.strength is not None else 0.0
    sev = "critical" if value >= critical else "high" if value >= high else "medium"
    why = f"{r.metric} effect {value:.3g} (high from {high:g}, critical from {critical:g})"
    if r.metric == VOLUME and r.expected and r.expected >= 5 and r.observed is not None:
        rel = r.observed / r.expected
        ext = max(rel, 1.0 / rel) if rel > 0 else math.inf
        if ext >= 5 and sev != "critical":
            sev, why = "critical", f"volume x{rel:.2f} of the expected count"
        elif ext >= 2 and sev == "medium":
            sev, why = "high", f"volume x{rel:.2f} of the expected count"
    if sev == "critical" and r.p_value > level / 100:
        sev, why = "high", why + "; evidence marginal (p within 100x of the level)"
    return sev, why


def decide(
    results: Sequence[TestResult], s: DetectorSettings, batch_id: str, level: float | None = None
) -> Evaluation:
    """Weighted BH at `level` (default `s.fdr`) over the tested results, and severities."""
    q = s.fdr if level is None else level
    tested = [i for i, r in enumerate(results) if r.status is Status.TESTED]
    per_metric: dict[str, int] = {}
    for i in tested:
        per_metric[results[i].metric] = per_metric.get(results[i].metric, 0) + 1
    weights = [results[i].weight / per_metric[results[i].metric] for i in tested]
    # The budget is the whole weight table: metrics not tested in this batch
    # leave their share unused rather than handing it to the others.
    total = sum(w for _, w in s.weights)
    m = len(tested)
    rescale = [w * m / total for w in weights]
    pvals = [results[i].p_value for i in tested]
    rejected, adjusted = weighted_bh(pvals, rescale, q, normalize=False) if tested else ([], [])
    out = list(results)
    for j, i in enumerate(tested):
        r = results[i]
        hit = rejected[j] and not r.gated
        if hit:
            sev, why = grade(r, q * r.weight / max(total, 1e-12))
            r = replace(r, details={**r.details, "severity_reason": why})
            out[i] = r.decided(True, adjusted[j], sev)
        else:
            out[i] = r.decided(False, adjusted[j])
    return Evaluation(batch_id, tuple(out), q)
