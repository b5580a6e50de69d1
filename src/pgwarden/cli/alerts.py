"""`pgwarden alerts ...` commands: list, ack, resolve, deliver, test-channel."""

from __future__ import annotations

import typer
from rich.markup import escape

from pgwarden.cli import tables
from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.config.runtime import default_actor

app = typer.Typer(help="alerts commands", no_args_is_help=True)


@app.command("list")
def list_cmd(
    status: str | None = typer.Option(None, help="open, acknowledged or resolved"),
    severity: str | None = typer.Option(None, help="medium, high or critical"),
    source: str | None = typer.Option(None, help="only this source"),
    limit: int = typer.Option(50, help="most alerts shown"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (with explanations)"),
) -> None:
    """Alerts, newest first."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        rows = alerts.list_alerts(services, status, severity, source, limit)
    if as_json:
        print_json(rows)
        return
    columns = [
        tables.Column("id", "id"), tables.Column("severity"), tables.Column("status"),
        tables.Column("source", "id"), tables.Column("rule", "id"), tables.Column("seen", "num"),
        tables.Column("last seen", "wide"), tables.Column("title"),
    ]  # fmt: skip
    cells = [
        [
            str(r["id"]),
            r["severity"],
            r["status"],
            escape(r["source"]),
            escape(r["rule"]),
            str(r["occurrences"]),
            r["last_seen"].isoformat(timespec="seconds"),
            escape(r["title"]),
        ]  # fmt: skip
        for r in rows
    ]
    out.print(tables.table(columns, cells, console=out, title="alerts", note=err))


@app.command("show")
def show_cmd(alert_id: int = typer.Argument(..., help="alert id")) -> None:
    """One alert with its full explanation (JSON)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        print_json(alerts.get_alert(services, alert_id))


@app.command("ack")
def ack_cmd(
    alert_id: int = typer.Argument(..., help="alert id"),
    who: str | None = typer.Option(None, help="who acknowledges (default user@host)"),
) -> None:
    """Acknowledge an open alert (it still resolves itself when the condition clears)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        row = alerts.acknowledge(services, alert_id, who or default_actor())
    out.print(f"alert {row['id']} is {row['status']}")


@app.command("resolve")
def resolve_cmd(
    alert_id: int = typer.Argument(..., help="alert id"),
    who: str | None = typer.Option(None, help="who resolves (default user@host)"),
) -> None:
    """Resolve an alert by hand."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        row = alerts.resolve(services, alert_id, who or default_actor())
    out.print(f"alert {row['id']} is {row['status']}")


@app.command("deliver")
def deliver_cmd() -> None:
    """Send the pending deliveries that are due now (what the periodic task does)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        done = alerts.deliver_pending(services)
    out.print(f"{done} deliveries sent")


@app.command("test-channel")
def test_channel_cmd(
    name: str = typer.Argument(..., help="channel name in alerts.channels"),
) -> None:
    """Send a test message through one channel; a failure stays pending with its error."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import alerts

    with open_services() as services:
        outcome = alerts.test_channel(services, name)
    if outcome.failed:
        for e in outcome.errors:
            err.print(f"[red]{escape(e)}[/]")
        raise typer.Exit(1)
    out.print(f"channel {name!r}: test message delivered")
