"""`pgwarden quality report` (and other commands of the anomaly/report side)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from pgwarden.cli.common import err, open_services, out, print_json, settings
from pgwarden.cli.quality import app
from pgwarden.errors import InputInvalid


def _day(value: str | None) -> date:
    if value is None:
        zone = ZoneInfo(settings().timezone)
        return datetime.now(UTC).astimezone(zone).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputInvalid("--date", value, "expected a day as YYYY-MM-DD") from None


@app.command("report")
def report_cmd(
    day: str | None = typer.Option(None, "--date", help="YYYY-MM-DD (default: yesterday)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    html: Path | None = typer.Option(None, "--html", help="also write a self-contained page"),
    store: bool = typer.Option(False, "--store", help="also keep it in quality_reports"),
) -> None:
    """The daily quality report per source, from the merged daily state."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.quality.report import daily_report, render_html, store_report

    when = _day(day)
    with open_services() as services:
        report = daily_report(services, when)
        if store:
            store_report(services, report)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
        err.print(f"wrote {html}")
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"quality report {when.isoformat()} ({report.timezone})")
    for col in ("source", "batches", "records", "avg score", "anomalies", "issues",
                "avg s", "peak rec/s", "trend", "top rule"):  # fmt: skip
        table.add_column(col)
    for s in report.sources:
        top = s.top_rules[0] if s.top_rules else None
        table.add_row(
            s.source, str(s.total_batches), f"{s.total_records:,}",
            "-" if s.average_quality_score is None else f"{s.average_quality_score:.3f}",
            str(s.total_anomalies), str(s.total_quality_issues),
            f"{s.average_processing_time:.4f}", f"{s.peak_records_per_second:,.0f}",
            s.data_quality_trend + (" (within the day)" if s.trend.per == "hour" else ""),
            f"{top.rule} {top.failures} ({top.change:+d})" if top else "-",
        )  # fmt: skip
    out.print(table)
    avg = "-" if report.average_quality_score is None else f"{report.average_quality_score:.3f}"
    out.print(
        f"{report.total_batches} batches, {report.total_records:,} records, average score "
        f"{avg}, {report.total_anomalies} anomalies, {report.total_alerts} alerts opened"
    )
    for rec in report.recommendations:
        out.print(f"- {rec}", highlight=False)
