"""`pgwarden db ...`: migrations, status, the embedded server."""

from __future__ import annotations

import typer
from rich.table import Table

from pgwarden.cli.common import out, print_json, settings
from pgwarden.db.pool import resolve_conninfo

app = typer.Typer(help="Database: migrations, status, embedded server.", no_args_is_help=True)


def _conninfo() -> tuple[str, str]:
    s = settings()
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db.pool import check_reachable

    conninfo = resolve_conninfo(s)
    check_reachable(conninfo, s.connect_timeout)
    return conninfo, s.schema_name


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="target revision"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the steps, change nothing"),
) -> None:
    """Upgrade pgwarden's schema (and procrastinate's) to REVISION."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db import migrate

    conninfo, schema = _conninfo()
    steps = migrate.pending(conninfo, schema, revision)
    if dry_run:
        out.print(f"would apply: {', '.join(steps) or 'nothing'}")
        return
    now = migrate.upgrade(conninfo, schema, revision)
    out.print(f"schema {schema!r} at revision {now} (applied {len(steps)} step(s))")
    if now == migrate.head():
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.cli.common import open_services
        from pgwarden.partitions import register_internal_policies

        with open_services() as svc:
            kept = register_internal_policies(svc)
        out.print(f"partition policies for pgwarden's own tables: {', '.join(kept) or 'none'}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="target revision, or 'base' to remove everything"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the steps, change nothing"),
) -> None:
    """Downgrade to REVISION. Destructive: tables of later revisions are dropped."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db import migrate

    conninfo, schema = _conninfo()
    steps = migrate.pending(conninfo, schema, revision, down=True)
    if dry_run:
        out.print(f"would undo: {', '.join(steps) or 'nothing'}")
        return
    now = migrate.downgrade(conninfo, schema, revision)
    out.print(f"schema {schema!r} at revision {now or 'base'} (undid {len(steps)} step(s))")


@app.command()
def current() -> None:
    """Print the schema's current revision."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db import migrate

    conninfo, schema = _conninfo()
    out.print(migrate.current(conninfo, schema) or "base")


@app.command()
def history() -> None:
    """List all revisions, oldest first."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db import migrate

    for rev, down, doc in migrate.history():
        out.print(f"{down or 'base'} -> {rev}  {doc}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Server version, embedded or external, data directory, revision, live workers."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.cli.status import collect_status

    info = collect_status(settings())
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False, box=None)
    for k, v in info.items():
        if k == "workers":
            continue
        table.add_row(k, str(v))
    out.print(table)
    workers = info["workers"]
    if workers:
        wt = Table("worker", "host", "pid", "alive", "jobs", "failed", "last seen", "last error")
        for w in workers:
            wt.add_row(
                w["name"],
                w["hostname"],
                str(w["pid"]),
                "yes" if w["alive"] else "no",
                str(w["jobs_done"]),
                str(w["jobs_failed"]),
                str(w["last_seen"])[:19],
                (w["last_error"] or "")[:60],
            )
        out.print(wt)
    else:
        out.print("no workers have run yet")


@app.command()
def stop() -> None:
    """Stop the embedded server (it otherwise keeps running between commands)."""
    s = settings()
    if not s.uses_embedded:
        out.print("an external server is configured; pgwarden does not stop it")
        return
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db.embedded import EmbeddedServer

    stopped = EmbeddedServer(s.data_dir).stop()
    out.print("embedded server stopped" if stopped else "embedded server was not running")
