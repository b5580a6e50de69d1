"""The daily quality report, built from the per-source daily state (never raw data).

`daily_report(services, day)` reads `quality_daily` for the trend window and
the day's anomalies, and `build_report` (pure) turns those rows into numbers:
per source the batches, records, average score, anomalies, issues, average
processing time, peak records/s, the score trend (OLS slope with a 95 %
confidence interval over the last N days: improving if the whole interval is
above zero, degrading if below, stable otherwise), top failing rules with
their change from the previous day, and recommendations derived from them.
A source with fewer than three days of scores gets its trend from within the
day instead: the day's stored batch scores in up to 24 equal time bins, the
slope per hour.
The JSON keeps seed 004's names (`date`, `total_batches`, `total_records`,
`average_quality_score`, `total_alerts`; per source also `total_anomalies`,
`total_quality_issues`, `average_processing_time`, `peak_records_per_second`,
`data_quality_trend`) and adds pgwarden's own fields next to them.
`render_html` makes a self-contained page (inline SVG, no scripts, no CDN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pgwarden.db.queries import Queries
from pgwarden.quality.anomaly.stats import t_quantile
from pgwarden.quality.report_html import render_html

if TYPE_CHECKING:
    from pgwarden.services import Services

#: Time bins of the within-day trend (hourly over a whole day, finer for a short run).
INTRADAY_BINS = 24

__all__ = [
    "DailyReport",
    "SourceReport",
    "Trend",
    "build_report",
    "daily_report",
    "list_anomalies",
    "render_html",
    "store_report",
    "trend_of",
]

FORMULAS = {
    "average_quality_score": "sum of batch overall scores / scored batches",
    "average_processing_time": "sum of batch processing seconds / batches",
    "data_quality_trend": "OLS slope of the daily average score per day over the window, "
    "95% t interval; improving if the interval is above 0, degrading if below, else stable. "
    "With fewer than 3 days of scores: the same over the day's batch scores in up to "
    f"{INTRADAY_BINS} equal time bins, slope per hour (trend.per says which)",
    "rule_change": "failing records today - failing records the previous day",
}


@dataclass(frozen=True)
class Trend:
    days: int
    slope: float | None
    low: float | None
    high: float | None
    label: str  # improving | stable | degrading | insufficient history
    per: str = "day"  # the slope's unit: per "day" over the window, per "hour" within the day


@dataclass(frozen=True)
class RuleChange:
    rule: str
    failures: int
    previous: int
    change: int


@dataclass
class SourceReport:
    source: str
    total_batches: int
    accepted: int
    rejected: int
    total_records: int
    average_quality_score: float | None
    min_score: float | None
    total_anomalies: int
    total_quality_issues: int
    violations: int
    average_processing_time: float  # seconds
    peak_records_per_second: float
    alerts_opened: int
    levels: dict[str, int]
    data_quality_trend: str  # the trend's label, as the seed reports it
    trend: Trend
    top_rules: list[RuleChange]
    recommendations: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DailyReport:
    day: date
    timezone: str
    generated_at: datetime
    total_batches: int
    total_records: int
    average_quality_score: float | None
    total_anomalies: int
    total_quality_issues: int
    total_alerts: int
    sources: list[SourceReport]
    anomalies: list[dict[str, Any]]
    recommendations: list[str]
    formulas: dict[str, str] = field(default_factory=lambda: dict(FORMULAS))

    def to_dict(self) -> dict[str, Any]:
        out = {"date": self.day.isoformat(), **asdict(self)}
        out["day"] = self.day.isoformat()
        out["generated_at"] = self.generated_at.isoformat()
        for src in out["sources"]:
            for h in src["history"]:
                h["day"] = h["day"].isoformat() if isinstance(h["day"], date) else h["day"]
        out["anomalies"] = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in a.items()}
            for a in self.anomalies
        ]
        return out


def trend_of(
    points: Sequence[tuple[float, float]], days: int, confidence: float = 0.95, per: str = "day"
) -> Trend:
    """OLS slope of (x, y) with a t confidence interval; needs three points.

    `per` names the unit of x (and so of the slope): "day" or "hour".
    """
    n = len(points)
    if n < 3:
        return Trend(days, None, None, None, "insufficient history", per)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return Trend(days, None, None, None, "insufficient history", per)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    resid = [y - (my + slope * (x - mx)) for x, y in points]
    se = math.sqrt(sum(r * r for r in resid) / (n - 2) / sxx)
    half = t_quantile(1 - (1 - confidence) / 2, n - 2) * se
    low, high = slope - half, slope + half
    label = "improving" if low > 0 else "degrading" if high < 0 else "stable"
    return Trend(days, slope, low, high, label, per)


def _trend_words(t: Trend) -> str:
    if t.per == "hour":
        return f"by {-(t.slope or 0):.4f} per hour within the day"
    return f"by {-(t.slope or 0):.4f} per day over {t.days} days"


def _recommend(s: SourceReport) -> list[str]:
    out: list[str] = []
    avg = s.average_quality_score
    if avg is not None and avg >= 0.9 and s.total_anomalies == 0:
        out.append(f"{s.source}: quality is excellent ({avg:.3f}); keep its rules "
                   "as the model for other sources.")  # fmt: skip
    if avg is not None and avg < 0.7:
        out.append(f"{s.source}: average score {avg:.3f} is below 0.7; fix the top "
                   "failing rule first.")  # fmt: skip
    if s.trend.label == "degrading":
        out.append(f"{s.source}: the score is degrading {_trend_words(s.trend)}; look at "
                   "what changed upstream.")  # fmt: skip
    if s.total_anomalies > 0:
        out.append(f"{s.source}: {s.total_anomalies} anomalies today; review them with "
                   "`pgwarden alerts list --source " + s.source + "`.")  # fmt: skip
    if s.rejected > 0:
        out.append(f"{s.source}: {s.rejected} batches were rejected; check their reasons.")
    for r in s.top_rules[:1]:
        if r.failures > 0:
            trend = "up" if r.change > 0 else "down" if r.change < 0 else "unchanged"
            out.append(f"{s.source}: rule {r.rule} failed {r.failures} records ({trend} "
                       f"{abs(r.change)} from the previous day).")  # fmt: skip
    return out


def build_report(
    day: date,
    rows: Sequence[Mapping[str, Any]],
    anomalies: Sequence[Mapping[str, Any]],
    *,
    timezone: str = "UTC",
    trend_days: int = 14,
    top_rules: int = 5,
    generated_at: datetime | None = None,
    intraday: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> DailyReport:
    """The report for `day` from quality_daily rows of [day - trend_days + 1, day] (pure).

    `intraday` maps a source to (hour of the day, average score) points; a
    source with fewer than three days of scores takes its trend from them.
    """
    by_source: dict[str, dict[date, Mapping[str, Any]]] = {}
    for r in rows:
        by_source.setdefault(r["source"], {})[r["day"]] = r
    sources: list[SourceReport] = []
    first = day - timedelta(days=trend_days - 1)
    for name in sorted(by_source):
        days = by_source[name]
        today = days.get(day)
        if today is None:
            continue
        prev = days.get(day - timedelta(days=1))
        history = []
        points = []
        for d in sorted(days):
            if not first <= d <= day:
                continue
            r = days[d]
            avg = r["score_sum"] / r["scored"] if r["scored"] else None
            history.append({"day": d, "average_score": avg, "anomalies": r["anomalies"],
                            "issues": r["issues"], "batches": r["batches"]})  # fmt: skip
            if avg is not None:
                points.append((float((d - first).days), avg))
        fails = dict(today["rule_failures"] or {})
        before = dict(prev["rule_failures"] or {}) if prev else {}
        ranked = sorted(fails.items(), key=lambda kv: (-int(kv[1]), kv[0]))[:top_rules]
        rules = [
            RuleChange(k, int(v), int(before.get(k, 0)), int(v) - int(before.get(k, 0)))
            for k, v in ranked
        ]
        if len(points) >= 3:
            trend = trend_of(points, trend_days)
        else:
            trend = trend_of(list((intraday or {}).get(name, ())), 1, per="hour")
        src = SourceReport(
            source=name,
            total_batches=today["batches"],
            accepted=today["accepted"],
            rejected=today["rejected"],
            total_records=int(today["records"]),
            average_quality_score=today["score_sum"] / today["scored"] if today["scored"] else None,
            min_score=today["score_min"],
            total_anomalies=today["anomalies"],
            total_quality_issues=today["issues"],
            violations=int(today["violation_count"]),
            average_processing_time=today["processing_seconds"] / today["batches"],
            peak_records_per_second=today["peak_records_per_second"],
            alerts_opened=today["alerts_opened"],
            levels={k: int(v) for k, v in (today["levels"] or {}).items()},
            data_quality_trend=trend.label,
            trend=trend,
            top_rules=rules,
            recommendations=[],
            history=history,
        )
        src.recommendations = _recommend(src)
        sources.append(src)
    sources.sort(
        key=lambda s: -(s.average_quality_score if s.average_quality_score is not None else -1)
    )
    scored = sum(by_source[s.source][day]["scored"] for s in sources)
    score_sum = sum(by_source[s.source][day]["score_sum"] for s in sources)
    recs = [r for s in sources for r in s.recommendations]
    if sources and all(s.peak_records_per_second > 0 for s in sources):
        slowest = min(sources, key=lambda s: s.peak_records_per_second)
        recs.append(f"slowest source by peak throughput: {slowest.source} "
                    f"({slowest.peak_records_per_second:,.0f} records/s).")  # fmt: skip
    return DailyReport(
        day=day,
        timezone=timezone,
        generated_at=generated_at or datetime.now(UTC),
        total_batches=sum(s.total_batches for s in sources),
        total_records=sum(s.total_records for s in sources),
        average_quality_score=score_sum / scored if scored else None,
        total_anomalies=sum(s.total_anomalies for s in sources),
        total_quality_issues=sum(s.total_quality_issues for s in sources),
        total_alerts=sum(s.alerts_opened for s in sources),
        sources=sources,
        anomalies=[dict(a) for a in anomalies],
        recommendations=recs,
    )


# -- database edge ------------------------------------------------------------------------


def _queries(schema: str) -> Queries:
    return Queries("pgwarden.quality.anomaly", schema)


def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start, end


def daily_report(services: Services, day: date) -> DailyReport:
    """The report of `day` (a calendar day in PGWARDEN_TIMEZONE) from stored daily state."""
    from psycopg.rows import dict_row

    tz = services.db.settings.timezone
    trend_days = services.config.get("report.trend_days")
    q = _queries(services.db.schema)
    with services.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            q["daily_rows"], {"first": day - timedelta(days=trend_days - 1), "last": day}
        ).fetchall()
    start, end = _day_bounds(day, tz)
    found = list_anomalies(services, since=start, until=end, limit=1000)
    return build_report(
        day,
        rows,
        found,
        timezone=tz,
        trend_days=trend_days,
        generated_at=services.clock(),
        intraday=_intraday(services, rows, day, start, end),
    )


def _intraday(
    services: Services, rows: Sequence[Mapping[str, Any]], day: date, start: datetime, end: datetime
) -> dict[str, list[tuple[float, float]]]:
    """Within-day score points of the sources that have fewer than three days of scores."""
    scored_days: dict[str, int] = {}
    today: set[str] = set()
    for r in rows:
        if r["scored"]:
            scored_days[r["source"]] = scored_days.get(r["source"], 0) + 1
        if r["day"] == day:
            today.add(r["source"])
    short = sorted(s for s in today if scored_days.get(s, 0) < 3)
    if not short:
        return {}
    q = Queries("pgwarden.quality", services.db.schema)
    out: dict[str, list[tuple[float, float]]] = {}
    with services.db.connection() as conn:
        for source, hour, score in conn.execute(
            q["intraday_scores"],
            {"start": start, "end": end, "sources": short, "bins": INTRADAY_BINS},
        ):
            out.setdefault(source, []).append((float(hour), float(score)))
    return out


def list_anomalies(
    services: Services,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Stored anomalies, newest first (metric, field, observed, expected, range, score, ...)."""
    from psycopg.rows import dict_row

    q = _queries(services.db.schema)
    with services.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            q["list_anomalies"],
            {"source": source, "since": since, "until": until, "limit": limit},
        ).fetchall()
    return [dict(r) for r in rows]


def store_report(services: Services, report: DailyReport) -> None:
    import json

    from psycopg.types.json import Jsonb

    q = _queries(services.db.schema)
    with services.db.connection() as conn:
        conn.execute(
            q["store_report"],
            {
                "day": report.day,
                "report": Jsonb(report.to_dict(), dumps=lambda v: json.dumps(v, default=str)),
            },
        )


def report_exists(services: Services, day: date) -> bool:
    q = _queries(services.db.schema)
    with services.db.connection() as conn:
        return conn.execute(q["report_exists"], {"day": day}).fetchone() is not None


def write_due_report(
    services: Services, now: datetime | None = None, *, force: bool = False
) -> date | None:
    """Store yesterday's report (in PGWARDEN_TIMEZONE) once; also as HTML if `report.html_dir`.

    The periodic task runs this hourly, so the report appears on the first run
    after local midnight whatever the worker's clock zone. Returns the day
    written, or None when it already existed.
    """
    from pathlib import Path

    zone = ZoneInfo(services.db.settings.timezone)
    day = (now or services.clock()).astimezone(zone).date() - timedelta(days=1)
    if not force and report_exists(services, day):
        return None
    report = daily_report(services, day)
    store_report(services, report)
    folder = services.config.get("report.html_dir")
    if folder:
        path = Path(folder) / f"quality-report-{day.isoformat()}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(report), encoding="utf-8")
    return day
