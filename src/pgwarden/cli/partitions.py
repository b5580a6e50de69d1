"""`pgwarden partitions ...`: policies, plan, run, status, restore, imports, row retention."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.db import migrate
from pgwarden.partitions import maintain as maint
from pgwarden.partitions import store

# Imported in the commands that use them: `partitions run` is what cron starts, and
# every process pays for what its module imports (seed import, row retention,
# restore, the importers and rich's progress display: about 35 ms).
if TYPE_CHECKING:
    from rich.progress import Progress

    from pgwarden.partitions import importers

app = typer.Typer(
    help="Partition lifecycle by policy: create ahead, rescue default, archive, drop.",
    no_args_is_help=True,
)

TABLE_HELP = 'parent table: schema.table or as written in SQL (\'"Sales"."Order Events"\')'


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _options(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _print_policy(change: store.PolicyChange, verb: str) -> None:
    p = change.policy
    out.print(
        f"{verb} policy for {escape(str(p.table))}: {p.interval}, premake {p.premake}, "
        f"retention {p.retention.text() if p.retention else 'none'} ({p.retention_action}); "
        f"adopted {change.adopted} existing partition(s)"
        + (", has a default partition" if change.has_default else ""),
        highlight=False,
    )


@app.command()
def add(
    table: str = typer.Argument(..., help=TABLE_HELP),
    interval: str = typer.Option(
        "monthly", help="daily, weekly, monthly, quarterly, yearly, 'N days', 'N months'"
    ),
    premake: int = typer.Option(4, help="future partitions after the current one (0-1000)"),
    retention: str | None = typer.Option(None, help="e.g. '6 months', '90 days', or none"),
    action: str = typer.Option("drop", help="after retention: drop, detach or archive"),
    archive_dir: str | None = typer.Option(None, help="where archive writes files"),
    keep_at_least: int = typer.Option(1, help="never go below this many partitions"),
    max_drops: int = typer.Option(100, help="most partitions removed per run"),
    naming: str | None = typer.Option(
        None,
        help="template with {parent}, or a preset: _pYYYYMMDD _YYYYMMDD _YYYY_MM "
        "_yYYYYmMM _yYYYYqN",
    ),
    timezone: str = typer.Option("UTC", help="time zone the bounds are computed in"),
    default_mode: str = typer.Option("none", help="none or keep-empty"),
    priority: int = typer.Option(100, help="lower runs first"),
    disabled: bool = typer.Option(False, "--disabled", help="store it but do not run it"),
) -> None:
    """Add a policy; an already partitioned table's partitions are adopted by their bounds."""
    with open_services() as svc:
        change = store.add_policy(
            svc.db,
            table,
            interval=interval,
            premake=premake,
            retention=retention,
            action=action,
            archive_dir=archive_dir,
            keep_at_least=keep_at_least,
            max_drops_per_run=max_drops,
            naming_template=naming,
            timezone=timezone,
            default_mode=default_mode,
            priority=priority,
            enabled=not disabled,
        )
    _print_policy(change, "added")


@app.command("set")
def set_cmd(
    table: str = typer.Argument(..., help=TABLE_HELP),
    interval: str | None = typer.Option(None),
    premake: int | None = typer.Option(None),
    retention: str | None = typer.Option(None, help="a span, or none"),
    action: str | None = typer.Option(None),
    archive_dir: str | None = typer.Option(None),
    keep_at_least: int | None = typer.Option(None),
    max_drops: int | None = typer.Option(None),
    naming: str | None = typer.Option(None),
    timezone: str | None = typer.Option(None),
    default_mode: str | None = typer.Option(None),
    priority: int | None = typer.Option(None),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled"),
) -> None:
    """Change some fields of a policy; takes effect at the next run."""
    with open_services() as svc:
        change = store.set_policy(
            svc.db,
            table,
            **_options(
                interval=interval,
                premake=premake,
                retention=retention,
                action=action,
                archive_dir=archive_dir,
                keep_at_least=keep_at_least,
                max_drops_per_run=max_drops,
                naming_template=naming,
                timezone=timezone,
                default_mode=default_mode,
                priority=priority,
                enabled=enabled,
            ),
        )
    _print_policy(change, "changed")


@app.command()
def remove(table: str = typer.Argument(..., help=TABLE_HELP)) -> None:
    """Forget a policy (its partitions stay as they are)."""
    with open_services() as svc:
        p = store.remove_policy(svc.db, table)
    out.print(f"removed policy for {escape(str(p.table))}", highlight=False)


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every policy."""
    with open_services() as svc:
        policies = store.list_policies(svc.db)
    if as_json:
        print_json([p.to_dict() for p in policies])
        return
    t = Table("table", "interval", "premake", "retention", "action", "tz", "default", "on", "prio")
    for p in policies:
        t.add_row(
            escape(str(p.table)),
            p.interval,
            str(p.premake),
            p.retention.text() if p.retention else "none",
            p.retention_action,
            p.timezone,
            p.default_mode,
            "yes" if p.enabled else "no",
            str(p.priority),
        )
    out.print(t)


@app.command()
def validate() -> None:
    """Check every stored policy and its table; exit 1 if any is broken."""
    with open_services() as svc:
        results = store.validate_all(svc.db)
    bad = 0
    for p, problem in results:
        if problem:
            bad += 1
            out.print(f"[red]✗[/] {escape(problem)}")
        else:
            out.print(f"[green]✓[/] {escape(str(p.table))}")
    if bad:
        raise typer.Exit(1)


@app.command()
def plan(
    table: str | None = typer.Argument(None, help=TABLE_HELP),
    as_json: bool = typer.Option(False, "--json"),
    now: str | None = typer.Option(None, help="plan as of this ISO time (default: now)"),
) -> None:
    """Dry run: the actions the next run would take, and warnings."""
    with open_services() as svc:
        result = maint.plan_all(svc, now=_when(now), table=table)
    if as_json:
        print_json(result.to_dict())
        return
    if not result.actions:
        out.print(f"nothing to do for {len(result.tables)} table(s)")
    else:
        t = Table("table", "action", "partition", "from", "to", "rescue")
        for a in result.actions:
            t.add_row(
                escape(str(a.table)),
                a.kind,
                escape(a.partition),
                a.lower.isoformat() if a.lower else "",
                a.upper.isoformat() if a.upper else "",
                "yes" if a.rescue else "",
            )
        out.print(t)
    for w in result.warnings:
        err.print(f"[yellow]warning[/] {escape(str(w.table))}: {escape(w.message)}")


@app.command()
def run(
    table: str | None = typer.Argument(None, help=TABLE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="plan and record, change nothing"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Apply the plan (leader lock; each table in its own short transaction)."""
    # The schema revision is checked in the run's first round trip, not before it: a
    # cron-started run with nothing to do is mostly round trips.
    # A progress bar only for a person watching: under cron stderr is no terminal.
    # Everything loaded so far lives until exit: out of the cyclic GC's sight, a
    # collection during the run scans the run's objects only (a full one over the
    # imports took ~3 ms, a sixth of a run with nothing to do).
    gc.freeze()
    with open_services(require_schema=False, short_lived=True) as svc:
        if err.is_terminal:
            with _progress() as bar:
                task = bar.add_task("partitions", total=None)

                def tick(name: str, done: int, total: int) -> None:
                    desc = escape(name) or "done"
                    bar.update(task, completed=done, total=total, description=desc)

                report = maint.run_maintenance(
                    svc, table=table, dry_run=dry_run, progress=tick, revision=migrate.head()
                )
        else:
            report = maint.run_maintenance(
                svc, table=table, dry_run=dry_run, revision=migrate.head()
            )
    if as_json:
        print_json(report.to_dict())
    else:
        out.print(
            f"{report.status}: {report.message or 'nothing to do'} in {report.duration_s:.2f} s"
            + (" (dry run)" if dry_run else ""),
            highlight=False,
        )
        for t in report.tables:
            if t.status != "ok":
                out.print(f"[red]✗[/] {escape(t.table)}: {escape(t.error or '')}")
    if report.status in ("failed", "partial"):
        raise typer.Exit(1)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Per parent: partitions, oldest and newest bound, horizon, default rows, next action."""
    with open_services() as svc:
        rows = maint.status(svc)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    t = Table("table", "parts", "oldest", "newest", "horizon", "default rows", "next", "last run")
    for r in rows:
        t.add_row(
            escape(r.table),
            str(r.partitions),
            r.oldest.date().isoformat() if r.oldest else "",
            r.newest.date().isoformat() if r.newest else "",
            f"{r.horizon_seconds / 86400:.1f} d" if r.horizon_seconds is not None else "",
            "" if r.rows_in_default is None else str(r.rows_in_default),
            escape(r.next_action or ""),
            f"{r.last_status} {r.last_run:%Y-%m-%d %H:%M}" if r.last_run else "",
        )
    out.print(t)


@app.command()
def restore(
    file: Path = typer.Argument(..., help="an archive's .copy.gz or .manifest.json"),
    dry_run: bool = typer.Option(False, "--dry-run", help="verify the file, change nothing"),
) -> None:
    """Re-create and re-attach an archived partition with every row."""
    from pgwarden.partitions.restore import restore_archive

    with open_services() as svc:
        r = restore_archive(svc, file, dry_run=dry_run)
    verb = "would restore" if dry_run else "restored"
    out.print(
        f"{verb} {r.rows} rows into {escape(r.partition)} [{r.lower}, {r.upper})", highlight=False
    )


@app.command("import-partman")
def import_partman(dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """Policies from pg_partman's part_config (time-based sets)."""
    from pgwarden.partitions import importers

    with open_services() as svc:
        found = importers.import_partman(svc, dry_run=dry_run)
    _print_imports(found)


@app.command("import-seed-config")
def import_seed(
    schema: str = typer.Option("public", help="schema of the seed's system_config"),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Policies from the seed job's partition.* keys in its system_config table."""
    from pgwarden.ops.seed_import import import_seed_config

    with open_services() as svc:
        found = import_seed_config(svc, schema, dry_run=dry_run)
    _print_imports(found)


def _print_imports(found: list[importers.Imported]) -> None:
    if not found:
        out.print("nothing to import")
    for item in found:
        mark = "[green]✓[/]" if item.policy or item.note else "[yellow]–[/]"
        out.print(f"{mark} {escape(item.table)} {escape(item.problem or item.note or '')}")


@app.command()
def retention(
    table: str = typer.Argument(..., help="an unpartitioned table"),
    column: str = typer.Option(..., help="its timestamp or date column"),
    older_than: str = typer.Option(..., help="e.g. '30 days'"),
    batch_size: int | None = typer.Option(None, help="rows per batch (default from config)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count, delete nothing"),
) -> None:
    """Delete old rows in batches: stores an ops retention policy and runs it (`ops retention`)."""
    from pgwarden.ops.row_retention import delete_old_rows

    with open_services() as svc, _progress() as bar:
        task = bar.add_task("deleting", total=None)
        r = delete_old_rows(
            svc,
            table,
            column,
            older_than,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=lambda n: bar.update(task, completed=n),
        )
    verb = "would delete" if dry_run else "deleted"
    out.print(
        f"{verb} {r.deleted} rows older than {r.cutoff.isoformat() if r.cutoff else '?'} from "
        f"{escape(r.table)} in {r.batches} batch(es) [{r.status}]; stored as retention policy "
        f"{r.policy_id} (`pgwarden ops retention list`)",
        highlight=False,
    )
