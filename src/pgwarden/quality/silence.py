"""Sources that stopped sending: a periodic check against each source's learned cadence.

A batch is judged when it arrives; a source that stops sending never
arrives, so nothing would notice. `check_silence` runs on a schedule: for
every source seen in the last `quality.silence_forget_days` it learns the
cadence from the gaps between its latest arrivals (up to `HISTORY_GAPS` of
them) and allows

    max(quality.silence_floor_seconds,
        quality.silence_factor x the quality.silence_quantile quantile of the gaps)

A source silent for longer raises the alert `silence` (high); the first
check after batches resume resolves it. A source with fewer than
`MIN_GAPS` gaps has no learned cadence yet and is never called silent.
The decisions (`allowed_gap`, `judge`) are pure and take `now`; the edge
reads the arrivals and applies the alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden import alerts
from pgwarden.alerts import Condition
from pgwarden.db.queries import Queries

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

RULE = "silence"
MIN_GAPS = 10  # arrival gaps needed before a cadence counts as learned
HISTORY_GAPS = 200  # the latest gaps the cadence is learned from


@dataclass(frozen=True)
class SilenceSettings:
    floor_seconds: float = 300.0
    quantile: float = 0.99
    factor: float = 1.5
    forget_days: float = 7.0


def settings_from(config: Any) -> SilenceSettings:
    if config is None or not hasattr(config, "get"):
        return SilenceSettings()
    get = config.get
    return SilenceSettings(
        floor_seconds=float(get("quality.silence_floor_seconds")),
        quantile=float(get("quality.silence_quantile")),
        factor=float(get("quality.silence_factor")),
        forget_days=float(get("quality.silence_forget_days")),
    )


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def allowed_gap(gaps: Sequence[float], s: SilenceSettings) -> float | None:
    """The longest silence the cadence allows, in seconds; None while it is not learned."""
    if len(gaps) < MIN_GAPS:
        return None
    return max(s.floor_seconds, s.factor * quantile(gaps, s.quantile))


@dataclass(frozen=True)
class Verdict:
    source: str
    last_at: datetime
    silent_seconds: float
    allowed_seconds: float | None  # None: no learned cadence yet
    typical_seconds: float | None  # the median gap
    gaps: int

    @property
    def silent(self) -> bool:
        return self.allowed_seconds is not None and self.silent_seconds > self.allowed_seconds


def judge(
    source: str, last_at: datetime, gaps: Sequence[float], now: datetime, s: SilenceSettings
) -> Verdict:
    """How long `source` has been silent at `now` against what its cadence allows (pure)."""
    return Verdict(
        source=source,
        last_at=last_at,
        silent_seconds=max(0.0, (now - last_at).total_seconds()),
        allowed_seconds=allowed_gap(gaps, s),
        typical_seconds=quantile(gaps, 0.5) if gaps else None,
        gaps=len(gaps),
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def condition(v: Verdict, s: SilenceSettings) -> Condition:
    """The alert condition of a silent source (explained like every other alert)."""
    assert v.allowed_seconds is not None
    return Condition(
        rule=RULE,
        kind="issue",
        title=f"{v.source}: no batch for {_minutes(v.silent_seconds)} "
        f"(allowed {_minutes(v.allowed_seconds)})",
        issue_severity="high",
        explanation={
            "metric": "seconds since the last batch",
            "observed": v.silent_seconds,
            "expected": v.typical_seconds,
            "expected_range": [0, v.allowed_seconds],
            "window": {"last_batch_at": v.last_at.isoformat(), "gaps": v.gaps},
            "method": f"max(floor {s.floor_seconds:g} s, {s.factor:g} x the "
            f"{s.quantile:g} quantile of the last {v.gaps} arrival gaps)",
            "score": v.silent_seconds / v.allowed_seconds if v.allowed_seconds else None,
            "top_fields": [],
            "sample_ids": [],
            "batch": {"source": v.source, "last_batch_at": v.last_at.isoformat()},
            "recommendation": f"{v.source} usually sends every "
            f"{_minutes(v.typical_seconds or 0)}; check the producer, its scheduler and the "
            "ingest path. The alert resolves itself when batches arrive again.",
        },
    )


@dataclass
class SilenceReport:
    checked: int = 0
    silent: list[str] = field(default_factory=list)
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def check_silence(services: Services, now: datetime | None = None) -> SilenceReport:
    """Judge every recently seen source at `now` (default: services.clock()) and apply alerts."""
    now = now or services.clock()
    s = settings_from(services.config)
    alert_settings = alerts.settings_from(services.config)
    q = Queries("pgwarden.quality", services.db.schema)
    report = SilenceReport()
    deliveries: list[int] = []
    with services.db.connection() as conn:
        rows = conn.execute(
            q["source_arrivals"],
            {"since": now - timedelta(days=s.forget_days), "until": now, "n": HISTORY_GAPS + 1},
        ).fetchall()
        for source, last_at, gaps in rows:
            verdict = judge(source, last_at, [float(g) for g in gaps or ()], now, s)
            report.checked += 1
            conditions = [condition(verdict, s)] if verdict.silent else []
            if verdict.silent:
                report.silent.append(source)
            with conn.transaction():
                done = alerts.raise_alerts(
                    conn, services.db.schema, source, None, conditions, now, alert_settings,
                    only_rules=(RULE,), resolve_after=1,
                )  # fmt: skip
            report.opened.extend(done["opened"])
            report.resolved.extend(done["resolved"])
            deliveries.extend(done["deliveries"])
    alerts.deliver_now(services, deliveries, now)
    if report.silent:
        log.warning(
            "silent sources: %s",
            ", ".join(report.silent),
            extra={"action": "sources_silent", "sources": report.silent},
        )
    return report
