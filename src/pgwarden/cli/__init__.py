"""The `pgwarden` command: thin typer commands that parse, call and print."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from pgwarden.cli import (
    alerts,
    batches_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    health,
    models,
    ops,
    partitions,
    quality,
    quality_report,  # noqa: F401  (adds commands to the quality group)
    run_cmd,
    worker_cmd,
)
from pgwarden.cli.common import err, settings, setup_logging
from pgwarden.errors import PgwardenError

app = typer.Typer(
    name="pgwarden",
    help="PostgreSQL-native runtime for detection pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(config_cmd.app, name="config")
app.add_typer(partitions.app, name="partitions")
app.add_typer(models.app, name="models")
app.add_typer(quality.app, name="quality")
app.add_typer(alerts.app, name="alerts")
app.add_typer(batches_cmd.app, name="batches")
app.add_typer(health.app, name="health")
app.add_typer(ops.app, name="ops")
worker_cmd.register(app)
run_cmd.register(app)
demo_cmd.register(app)


@app.callback()
def _root() -> None:
    """Settings come from PGWARDEN_* variables and an optional pgwarden.toml."""
    setup_logging(settings().log_level)


def main() -> None:
    try:
        app()
    except PgwardenError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
