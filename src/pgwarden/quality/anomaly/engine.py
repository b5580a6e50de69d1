"""All tests of one batch, then one multiple-testing decision (pure).

A batch is tested on volume, missing and format rates, arrival gap, and drift
and outliers of each numeric field. Which results are anomalies is decided
together with weighted Benjamini-Hochberg at the false-discovery level
`fdr`: with every test null, that level is also the chance of any false
anomaly in the batch, so `fdr` = 1/1440 means about one false alert per 60
days of hourly batches (half the "one per source-month" goal: a month's
count is Poisson, and at an expected 1.0 half the months would exceed it).
The weights spend most of that budget on volume, the metric whose spikes
must be caught at 5 sigma; gated results (below their effect size) take part
with their p-value but can never be anomalies. The price is power at the
margin: the volume test's two-sided level is 0.8/1440, about 3.45 sigma, and
a 5-sigma spike lands on top of the batch's own unit noise, so only about
93 % of exactly-5-sigma spikes clear it (all of 6 sigma and above do).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from pgwarden.quality.anomaly import detectors
from pgwarden.quality.anomaly.detectors import DetectorSettings
from pgwarden.quality.anomaly.histo import histogram_of
from pgwarden.quality.anomaly.model import BatchPoint, Evaluation, Status, TestResult
from pgwarden.quality.anomaly.stats import weighted_bh


def numeric_fields(point: BatchPoint) -> list[str]:
    return sorted(name for name, st in point.field_stats.items() if histogram_of(st) is not None)


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
    results: list[TestResult] = [
        detectors.volume(past, current, tz, s),
        detectors.missing_rate(past, current, s),
        detectors.format_rate(past, current, s),
        detectors.arrival_gap(past, current, s),
    ]
    fields = numeric_fields(current)
    for name in fields:
        results.append(detectors.drift(past, current, name, s))
        results.append(detectors.outliers(past, current, name, s))
    return decide(results, s, current.batch_id)


def decide(results: Sequence[TestResult], s: DetectorSettings, batch_id: str) -> Evaluation:
    """Weighted BH over the tested results; the per-field weights share their metric's."""
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
    rejected, adjusted = weighted_bh(pvals, rescale, s.fdr, normalize=False) if tested else ([], [])
    out = list(results)
    for j, i in enumerate(tested):
        hit = rejected[j] and not results[i].gated
        out[i] = results[i].decided(hit, adjusted[j])
    return Evaluation(batch_id, tuple(out), s.fdr)
