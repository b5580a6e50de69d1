"""`pgwarden ops ...`: backups and restore tests, lifecycle policies, maintenance, capacity."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.ops.runner import RunRecord

app = typer.Typer(
    help="Operations: backups whose restores are proven, retention, masking, maintenance.",
    no_args_is_help=True,
)
retention_app = typer.Typer(
    help="Stored retention policies: batched deletes.", no_args_is_help=True
)
mask_app = typer.Typer(help="Stored PII-masking policies: batched updates.", no_args_is_help=True)
maintain_app = typer.Typer(
    help="ANALYZE, REINDEX CONCURRENTLY, autovacuum settings.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")
app.add_typer(mask_app, name="mask")
app.add_typer(maintain_app, name="maintain")

DRY = typer.Option(False, "--dry-run", help="print the plan and reasons, change nothing")
JSON = typer.Option(False, "--json", help="machine-readable output")
COLORS = {
    "OK": "green",
    "SKIPPED": "yellow",
    "PARTIAL": "yellow",
    "FAILED": "red",
    "RUNNING": "cyan",
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
}


@contextmanager
def _terminable(doing: str = "working") -> Iterator[Any]:
    """A spinner on stderr; SIGTERM ends the command like Ctrl-C, so `finally` blocks
    (scratch databases, drill servers) still run."""

    def stop(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with err.status(doing) as status:
            yield status
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show(run: RunRecord, as_json: bool = False, summary: str | None = None) -> None:
    if as_json:
        print_json(run.to_dict())
        return
    color = COLORS.get(run.status.value, "white")
    head = f"[{color}]{run.status.value}[/] {run.op} on {escape(run.target)} (run {run.id})"
    if run.dry_run:
        head += " [dim]dry run[/]"
    out.print(head, highlight=False)
    if run.error:
        out.print(f"  {escape(run.error)}", highlight=False)
    if summary:
        out.print(f"  {escape(summary)}", highlight=False)


def _kv(result: dict[str, Any], *keys: str) -> str:
    return ", ".join(f"{k} {result[k]}" for k in keys if result.get(k) is not None)


# -- backups ------------------------------------------------------------------


@app.command()
def backup(
    fmt: str = typer.Option("custom", "--format", help="custom (one file) or directory (-j)"),
    jobs: int | None = typer.Option(None, help="parallel jobs (directory format)"),
    schema_only: bool = typer.Option(False, "--schema-only"),
    table: list[str] = typer.Option([], "--table", help="pg_dump table pattern (repeatable)"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """pg_dump in an exported snapshot, exact row counts, a manifest, a catalog row."""
    from pgwarden.ops.verify import backup_then_verify

    with open_services() as svc, _terminable("pg_dump running"):
        runs = backup_then_verify(
            svc, fmt=fmt, jobs=jobs, schema_only=schema_only, tables=tuple(table), dry_run=dry_run
        )
    for run in runs:
        r = run.result
        _show(
            run,
            as_json,
            str(r.get("plan"))
            if run.dry_run
            else _kv(
                r, "backup_id", "path", "bytes", "tables", "rows", "seconds", "restore_seconds"
            ),
        )


@app.command()
def backups(
    as_json: bool = JSON,
    all_: bool = typer.Option(False, "--all", help="include deleted backups"),
) -> None:
    """The backup catalog: age, size, verified or not."""
    from pgwarden.ops.backup import list_backups

    with open_services() as svc:
        found = list_backups(svc, include_deleted=all_)
    now = datetime.now(UTC)
    if as_json:
        print_json([b.to_dict(now) for b in found])
        return
    t = Table("id", "target", "taken", "age", "status", "size", "verified", "restore s")
    for b in found:
        age_h = (now - b.started_at).total_seconds() / 3600
        verified = (
            "-" if b.verify_ok is None else ("[green]yes[/]" if b.verify_ok else "[red]FAILED[/]")
        )
        t.add_row(
            str(b.id),
            escape(b.target),
            f"{b.started_at:%Y-%m-%d %H:%M}",
            f"{age_h:.1f} h" if age_h < 48 else f"{age_h / 24:.1f} d",
            b.status,
            _size(b.bytes),
            verified,
            f"{b.verify_seconds:.1f}" if b.verify_seconds else "-",
        )
    out.print(t)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return str(n)


@app.command()
def verify(
    backup_id: str = typer.Argument("latest", help="a backup id, or latest"),
    jobs: int | None = typer.Option(None, help="pg_restore -j"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """Restore into a scratch database, compare every table's rows with the manifest, drop it."""
    from pgwarden.ops.verify import verify_backup

    with open_services() as svc, _terminable("restoring into a scratch database"):
        run = verify_backup(svc, backup_id, jobs=jobs, dry_run=dry_run)
    _show(
        run,
        as_json,
        str(run.result.get("plan"))
        if run.dry_run
        else _kv(run.result, "backup_id", "tables", "rows", "restore_seconds"),
    )


@app.command()
def restore(
    backup_id: str = typer.Argument(..., help="a backup id, or latest"),
    into: str = typer.Option(..., help="the database to create and restore into"),
    replace: bool = typer.Option(False, "--replace", help="drop an existing database first"),
    jobs: int | None = typer.Option(None, help="pg_restore -j"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """Restore a backup into a new database; refuses an existing one unless --replace."""
    from pgwarden.ops.verify import restore_backup

    with open_services() as svc, _terminable(f"restoring into {into}"):
        run = restore_backup(svc, backup_id, into, replace=replace, jobs=jobs, dry_run=dry_run)
    _show(
        run,
        as_json,
        str(run.result.get("plan"))
        if run.dry_run
        else _kv(run.result, "backup_id", "into", "restore_seconds"),
    )


@app.command()
def prune(dry_run: bool = DRY, as_json: bool = JSON) -> None:
    """Grandfather-father-son backup retention; one line per backup with its reason."""
    from pgwarden.ops.prune import prune as run_prune

    with open_services() as svc:
        run = run_prune(svc, dry_run=dry_run)
    if as_json:
        print_json(run.to_dict())
        return
    _show(run)
    for line in run.result.get("lines", []):
        color = "green" if " keep: " in line else "red"
        out.print(f"  [{color}]{escape(line)}[/]", highlight=False)


@app.command()
def runs(
    op: str | None = typer.Option(None, help="only this operation"),
    limit: int = typer.Option(30, help="how many"),
    as_json: bool = JSON,
) -> None:
    """Recent operation runs (the run records)."""
    from pgwarden.ops.runner import list_runs

    with open_services() as svc:
        found = list_runs(svc, op, limit)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    t = Table("id", "op", "target", "started", "status", "dry", "error")
    for r in found:
        t.add_row(
            str(r.id),
            r.op,
            escape(r.target),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            f"[{COLORS.get(r.status.value, 'white')}]{r.status.value}[/]",
            "yes" if r.dry_run else "",
            escape((r.error or "")[:80]),
        )
    out.print(t)


# -- lifecycle policies -------------------------------------------------------


def _policies(kind: str, as_json: bool) -> None:
    from pgwarden.ops.lifecycle import list_policies

    with open_services() as svc:
        found = list_policies(svc, kind)
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    if not found:
        out.print(f"no {kind} policy")
    for p in found:
        state = f" [yellow](unfinished run: {p.state['done']} rows, resumes)[/]" if p.state else ""
        out.print(f"{p.id:>4}  {escape(p.describe())}  [dim]{p.source}[/]{state}", highlight=False)


def _run_policies(kind: str, policy_id: int | None, dry_run: bool, as_json: bool) -> None:
    from pgwarden.ops.lifecycle import run_policies

    verb = "deleted" if kind == "retention" else "masked"
    with open_services() as svc, _terminable(f"{kind} running") as status:
        found = run_policies(
            svc,
            kind,
            policy_id=policy_id,
            dry_run=dry_run,
            on_batch=lambda batches, done: status.update(f"{done} rows {verb}, {batches} batches"),
        )
    if not found:
        out.print(f"no enabled {kind} policy")
    for run in found:
        first = ("would_delete" if kind == "retention" else "would_mask") if run.dry_run else verb
        _show(run, as_json, _kv(run.result, first, "batches", "longest_batch_s", "rows_per_s"))


@retention_app.command("add")
def retention_add(
    table: str = typer.Argument(..., help="schema.table (a plain, unpartitioned table)"),
    column: str | None = typer.Option(None, help="its timestamp or date column"),
    older_than: str | None = typer.Option(None, help="e.g. '180 days'"),
    expires_column: str | None = typer.Option(None, help="a column holding each row's expiry"),
) -> None:
    """Store a retention policy (replaces one on the same table and column)."""
    from pgwarden.errors import InputInvalid
    from pgwarden.ops.lifecycle import add_policy

    if (column is None) == (expires_column is None):
        raise InputInvalid("column", column or expires_column, "give --column or --expires-column")
    with open_services() as svc:
        p = add_policy(
            svc,
            "retention",
            table,
            column or expires_column or "",
            older_than=older_than,
            expires=expires_column is not None,
        )
    out.print(f"retention policy {p.id}: {escape(p.describe())}", highlight=False)


@retention_app.command("list")
def retention_list(as_json: bool = JSON) -> None:
    """The stored retention policies."""
    _policies("retention", as_json)


@retention_app.command("remove")
def retention_remove(policy_id: int) -> None:
    """Remove a retention policy."""
    from pgwarden.ops.lifecycle import remove_policy

    with open_services() as svc:
        remove_policy(svc, "retention", policy_id)
    out.print(f"removed retention policy {policy_id}")


@retention_app.command("run")
def retention_run(
    policy_id: int | None = typer.Option(None, "--id", help="only this policy"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """Run the policies: batched deletes, resumable, one run record each."""
    _run_policies("retention", policy_id, dry_run, as_json)


@mask_app.command("add")
def mask_add(
    table: str = typer.Argument(..., help="schema.table"),
    column: str = typer.Option(..., help="the column holding personal data"),
    method: str = typer.Option(..., help="hash, null, redact or ip-prefix"),
    older_than: str = typer.Option(..., help="mask rows older than this, e.g. '90 days'"),
    age_column: str = typer.Option("created_at", help="the row's time column"),
) -> None:
    """Store a masking policy (replaces one on the same table and column)."""
    from pgwarden.ops.lifecycle import add_policy

    with open_services() as svc:
        p = add_policy(
            svc, "mask", table, column, method=method, older_than=older_than, age_column=age_column
        )
    out.print(f"mask policy {p.id}: {escape(p.describe())}", highlight=False)


@mask_app.command("list")
def mask_list(as_json: bool = JSON) -> None:
    """The stored masking policies."""
    _policies("mask", as_json)


@mask_app.command("remove")
def mask_remove(policy_id: int) -> None:
    """Remove a masking policy."""
    from pgwarden.ops.lifecycle import remove_policy

    with open_services() as svc:
        remove_policy(svc, "mask", policy_id)
    out.print(f"removed mask policy {policy_id}")


@mask_app.command("run")
def mask_run(
    policy_id: int | None = typer.Option(None, "--id", help="only this policy"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """Run the policies: batched, idempotent updates."""
    _run_policies("mask", policy_id, dry_run, as_json)


# -- maintenance, capacity, checklists ---------------------------------------


@maintain_app.command("analyze")
def maintain_analyze(dry_run: bool = DRY, as_json: bool = JSON) -> None:
    """ANALYZE partitioned parents and tables with stale statistics."""
    from pgwarden.ops.maintenance import analyze

    with open_services() as svc:
        run = analyze(svc, dry_run=dry_run)
    _show(run, as_json)
    if not as_json:
        for item in run.result.get("plan") or run.result.get("analyzed") or []:
            out.print(f"  {escape(item['table'])}: {escape(item['reason'])}", highlight=False)


@maintain_app.command("reindex")
def maintain_reindex(dry_run: bool = DRY, as_json: bool = JSON) -> None:
    """REINDEX INDEX CONCURRENTLY over the bloat bar; drop leftovers of failed rebuilds."""
    from pgwarden.ops.maintenance import reindex

    with open_services() as svc:
        run = reindex(svc, dry_run=dry_run)
    _show(run, as_json)
    if not as_json:
        r = run.result
        for name in r.get("drop_leftovers", []) + r.get("dropped_leftovers", []):
            out.print(f"  drop leftover {escape(name)}", highlight=False)
        for line in r.get("invalid_reported", []):
            out.print(f"  [yellow]{escape(line)}[/]", highlight=False)
        for c in r.get("reindex", []) + r.get("rebuilt", []):
            after = f" -> {_size(c['bytes_after'])}" if "bytes_after" in c else ""
            out.print(
                f"  reindex {escape(c['index'])}: {_size(c['bytes'])}{after}, "
                f"est. bloat {c['bloat_pct']} %",
                highlight=False,
            )


@maintain_app.command("autovacuum")
def maintain_autovacuum(dry_run: bool = DRY, as_json: bool = JSON) -> None:
    """Apply ops.autovacuum's per-table settings (to every leaf of a partitioned table)."""
    from pgwarden.ops.maintenance import apply_autovacuum

    with open_services() as svc:
        run = apply_autovacuum(svc, dry_run=dry_run)
    _show(run, as_json)
    if not as_json:
        for line in run.result.get("changes") or run.result.get("applied") or []:
            out.print(f"  {escape(line)}", highlight=False)


@app.command()
def capacity(as_json: bool = JSON) -> None:
    """Sizes, growth per day, days until the limit (and whether the 20 %/year fallback was used)."""
    from pgwarden.ops.capacity import capacity_report

    with open_services() as svc:
        report = capacity_report(svc)
    if as_json:
        print_json(report)
        return
    db = report["database"]
    days = db["days_to_limit"]
    color = "red" if db["alert"] else "green"
    out.print(
        f"database {escape(db['object'])}: {_size(db['bytes'])}, "
        f"+{_size(int(db['growth_per_day']))}/day",
        highlight=False,
    )
    out.print(f"  growth: {escape(db['method'])}", highlight=False)
    when = f"{days} days to the limit" if days is not None else "not reached on this trend"
    out.print(
        f"  limit: {_size(db['limit'])} ({escape(report['limit_source'])}); [{color}]{when}[/]",
        highlight=False,
    )
    t = Table("table", "size", "growth/day", "how")
    for p in report["top_tables"]:
        t.add_row(
            escape(p["object"]),
            _size(p["bytes"]),
            _size(int(p["growth_per_day"])),
            "fit" if p["fitted"] else "fallback",
        )
    out.print(t)


@app.command("checklist")
def checklist_cmd(
    daily: bool = typer.Option(False, "--daily"),
    weekly: bool = typer.Option(False, "--weekly"),
    monthly: bool = typer.Option(False, "--monthly"),
    pre_deploy: bool = typer.Option(False, "--pre-deploy"),
    as_json: bool = JSON,
) -> None:
    """Seed 003's checklists computed from evidence; exit status 1 when an item fails."""
    from pgwarden.ops.checklist import checklist

    chosen = [
        c
        for c, on in (
            ("daily", daily),
            ("weekly", weekly),
            ("monthly", monthly),
            ("pre-deploy", pre_deploy),
        )
        if on
    ] or ["daily"]
    items = []
    with open_services() as svc:
        for cadence in chosen:
            items += checklist(svc, cadence)
    if as_json:
        print_json([i.to_dict() for i in items])
    else:
        for i in items:
            color = COLORS[i.status]
            out.print(
                f"[{color}]{i.status:<4}[/] {i.cadence:<10} {escape(i.name)}: {escape(i.evidence)}",
                highlight=False,
            )
            if i.fix and i.status != "pass":
                out.print(f"      fix: {escape(i.fix)}", highlight=False)
    if any(i.status == "fail" for i in items):
        raise typer.Exit(1)


@app.command()
def check(as_json: bool = JSON) -> None:
    """Cross-policy checks: backups kept past a masking horizon, tools, unrunnable policies."""
    from pgwarden.ops.checklist import (
        Evidence,
        cross_policy_problems,
        tool_versions,
        unrunnable_policies,
    )

    with open_services() as svc:
        problems = cross_policy_problems(svc) + unrunnable_policies(svc)
        tools_item = tool_versions(Evidence(svc))
    if tools_item.status != "pass":
        problems.append(tools_item.evidence)
    if as_json:
        print_json({"problems": problems})
    elif not problems:
        out.print("[green]no problem found[/]")
    for p in [] if as_json else problems:
        out.print(f"[yellow]warn[/] {escape(p)}", highlight=False)
    if problems:
        raise typer.Exit(1)


pitr_app = typer.Typer(help="Point-in-time recovery through pgBackRest.", no_args_is_help=True)
app.add_typer(pitr_app, name="pitr")


@pitr_app.command("config")
def pitr_config(
    stanza: str = typer.Option("main", help="pgBackRest stanza name"),
    repo: str = typer.Option(..., help="repository directory (local)"),
    config_path: str = typer.Option(..., "--config-path", help="where to write pgbackrest.conf"),
    no_stanza_create: bool = typer.Option(False, "--no-stanza-create"),
    dry_run: bool = DRY,
    as_json: bool = JSON,
) -> None:
    """Write a pgBackRest configuration; print the archive_command and settings to apply."""
    from pathlib import Path

    from pgwarden.ops import pitr

    with open_services() as svc:
        run = pitr.configure(
            svc,
            stanza=stanza,
            repo=Path(repo),
            config_path=Path(config_path),
            create_stanza=not no_stanza_create,
            dry_run=dry_run,
        )
    _show(run, as_json)
    if not as_json:
        r = run.result
        out.print(f"  archive_command: {escape(r.get('archive_command', ''))}", highlight=False)
        for line in r.get("server_settings_to_apply", []):
            out.print(f"  apply: {escape(line)}", highlight=False)
        if r.get("restart_needed"):
            out.print("  [yellow]archive_mode / wal_level need a server restart[/]")


@pitr_app.command("check")
def pitr_check(as_json: bool = JSON) -> None:
    """pgbackrest check and info: last backups' ages, archive range, errors."""
    from pgwarden.ops import pitr

    with open_services() as svc:
        run = pitr.check(svc)
    _show(
        run,
        as_json,
        None if as_json else _kv(run.result, "status", "archive_min", "archive_max", "backups"),
    )


@pitr_app.command("backup")
def pitr_backup(
    kind: str = typer.Option("full", "--type", help="full, diff or incr"), as_json: bool = JSON
) -> None:
    """A physical backup by pgBackRest."""
    from pgwarden.ops import pitr

    with open_services() as svc, _terminable("pgbackrest backup running"):
        run = pitr.backup(svc, kind)
    _show(run, as_json, _kv(run.result, "type", "seconds"))


@pitr_app.command("drill")
def pitr_drill(
    target_time: str | None = typer.Option(None, help="ISO time to recover to (default: now)"),
    port: int | None = typer.Option(
        None, help="scratch server's port (default ops.pitr_drill_port)"
    ),
    as_json: bool = JSON,
) -> None:
    """Restore to a time in a scratch cluster, check it, remove it; records RPO and RTO."""
    from pgwarden.errors import InputInvalid
    from pgwarden.ops import pitr

    when = None
    if target_time:
        try:
            when = datetime.fromisoformat(target_time)
        except ValueError:
            raise InputInvalid("target_time", target_time, "must be an ISO time") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    with open_services() as svc, _terminable("PITR drill running"):
        run = pitr.drill(
            svc, target_time=when, port=port or int(svc.config.get("ops.pitr_drill_port"))
        )
    _show(run, as_json, _kv(run.result, "rows_checked", "rpo_seconds", "rto_seconds"))
