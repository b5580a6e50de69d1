"""`pgwarden quality ...`: check a file, manage a source's rules."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from pgwarden.cli import tables
from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.errors import InputInvalid

app = typer.Typer(help="Batch data quality: check files, manage rules.", no_args_is_help=True)
rules_app = typer.Typer(help="Rules per source: YAML, versioned in the database.")
app.add_typer(rules_app, name="rules", no_args_is_help=True)


def _read_text(path: Path) -> str:
    from pgwarden.errors import PgwardenError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PgwardenError(f"cannot read {path}: {exc}") from exc


def _metadata(text: str | None) -> dict[str, Any]:
    from pgwarden.errors import PgwardenError

    if not text:
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PgwardenError(f"--metadata {text!r} is not JSON: {exc.msg}") from exc
    if not isinstance(doc, dict):
        raise PgwardenError(f"--metadata {text!r} must be a JSON object")
    return doc


@app.command()
def check(
    file: Path = typer.Argument(..., help="JSON lines, JSON, CSV, Parquet or Arrow file"),
    source: str = typer.Option(..., "--source", "-s", help="the source whose rules apply"),
    rules_file: Path | None = typer.Option(
        None, "--rules", help="YAML rules to use instead of the stored ones (no database)"
    ),
    fmt: str | None = typer.Option(None, "--format", help="override the guessed format"),
    metadata: str | None = typer.Option(None, help="batch metadata as a JSON object"),
    store: bool = typer.Option(False, help="store the result (and run anomaly/alert hooks)"),
    batch_id: str | None = typer.Option(None, "--batch-id", help="id when storing"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    stats: bool = typer.Option(False, help="include per-field statistics in the JSON"),
) -> None:
    """Check a file against a source's rules and print counts, scores and level.

    Exits 1 when the batch is rejected (unreadable, empty, oversize values).
    """
    from pgwarden.quality.batch import DataBatch
    from pgwarden.quality.check import check_batch
    from pgwarden.quality.output import result_to_dict

    kwargs: dict[str, Any] = {
        "source": source,
        "records": file,
        "fmt": fmt,
        "metadata": _metadata(metadata),
    }
    if batch_id is not None:
        from pgwarden.service.ingest import BATCH_ID

        if not BATCH_ID.match(batch_id):
            # the same rule as the API's: an id stored here must be one it can serve
            raise InputInvalid("--batch-id", batch_id, "must be 1-128 of A-Z a-z 0-9 _ . : -")
        kwargs["id"] = batch_id
    batch = DataBatch(**kwargs)
    now = datetime.now(UTC)
    if rules_file is not None:
        if store:
            raise typer.BadParameter("--store uses the stored rules; drop --rules")
        from pgwarden.quality.rulestore import validate_rules

        rules = validate_rules(source, _read_text(rules_file))
        result = check_batch(batch, rules, now)
    else:
        from pgwarden.quality.process import options_from_config
        from pgwarden.quality.rulestore import get_rules
        from pgwarden.service.pipeline import check_and_alert

        with open_services() as svc:
            if store:
                result = check_and_alert(svc, batch, now=now)
            else:
                result = check_batch(
                    batch, get_rules(svc, source), now, options=options_from_config(svc.config)
                )
    if as_json:
        print_json(result_to_dict(result, field_stats=stats))
    else:
        _print_result(result)
    if str(result.status) == "REJECTED":
        sys.exit(1)


def _print_result(result: Any) -> None:
    from pgwarden.quality.rules import default_rules_note

    if result.scores is None:
        out.print(f"[bold red]REJECTED[/] {escape(result.reject_reason or '')}", highlight=False)
        return
    s = result.scores
    if result.counts.get("default_rules"):
        out.print(escape(default_rules_note(result.source)), highlight=False)
    level = "cell level" if result.counts.get("completeness_cells") else "record level"
    # one batch: a record read top to bottom, whatever the terminal's width
    out.print(
        tables.record(
            [
                ("batch", escape(result.batch_id)),
                ("source", escape(result.source)),
                ("records", f"{result.records:,}"),
                ("level", str(s.level)),
                ("overall", f"{s.overall:.3f}"),
                ("completeness", f"{s.completeness:.3f} ({level})"),
                ("consistency", f"{s.consistency:.3f}"),
                ("accuracy", f"{s.accuracy:.3f}"),
                ("timeliness", f"{s.timeliness:.3f}"),
                ("seconds", f"{result.processing_seconds:.3f}"),
                ("records/s", f"{result.records_per_second:,.0f}"),
            ]
        )
    )
    rows = []
    for name in result.rule_counts:
        v = next((v for v in result.violations if v.rule == name), None)
        if v is None:
            rows.append([escape(name), "", "", "", "0", "", "ok"])
            continue
        rows.append(
            [
                escape(v.rule),
                v.kind,
                escape(v.field or ""),
                str(v.severity),
                f"{v.count:,}",
                escape(", ".join(v.sample_ids[:3]) + (" ..." if len(v.sample_ids) > 3 else "")),
                escape(v.message),
            ]
        )
    columns = [
        tables.Column("rule", "id"),
        tables.Column("kind"),
        tables.Column("field", "id"),
        tables.Column("severity"),
        tables.Column("count", "num"),
        tables.Column("sample ids", "wide"),
        tables.Column("message"),
    ]
    out.print(tables.table(columns, rows, console=out, note=err))


@rules_app.command("set")
def rules_set(
    source: str,
    file: Path,
    who: str | None = typer.Option(None, help="recorded with the version"),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="store a file with no rules (the source is then unchecked)"
    ),
) -> None:
    """Validate a YAML rules file and store it as the source's next version.

    A bad file exits 1 and stores nothing: the last good rules stay active. A
    file with no rules is refused unless --allow-empty.
    """
    from pgwarden.quality.rulestore import set_rules

    text = _read_text(file)
    with open_services() as svc:
        stored = set_rules(svc, source, text, who, allow_empty=allow_empty)
    out.print(
        f"rules of {escape(source)}: version {stored.version}, "
        f"{len(stored.rules.rules)} rules, by {escape(stored.created_by or '?')}",
        highlight=False,
    )


@rules_app.command("validate")
def rules_validate(source: str, file: Path) -> None:
    """Check a YAML rules file without storing it (no database needed)."""
    from pgwarden.quality.rulestore import validate_rules

    rules = validate_rules(source, _read_text(file))
    out.print(f"ok: {len(rules.rules)} rules for {escape(source)}", highlight=False)


@rules_app.command("show")
def rules_show(
    source: str,
    version: int | None = typer.Option(None, help="a stored version (default: the active one)"),
    as_json: bool = typer.Option(False, "--json", help="the parsed rules as JSON"),
) -> None:
    """Print a source's stored rules (the YAML as stored, or the parsed rules as JSON)."""
    from pgwarden.quality.errors import RulesNotFound
    from pgwarden.quality.rulestore import load_rules

    with open_services() as svc:
        stored = load_rules(svc, source, version)
    if stored is None:
        raise RulesNotFound(source)
    if as_json:
        print_json({**stored.rules.to_dict(), "created_at": stored.created_at,
                    "created_by": stored.created_by})  # fmt: skip
    else:
        sys.stdout.write(f"# {source} version {stored.version} by {stored.created_by} "
                         f"at {stored.created_at.isoformat()}\n{stored.yaml}")  # fmt: skip
        if not stored.yaml.endswith("\n"):
            sys.stdout.write("\n")


@rules_app.command("list")
def rules_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every source with stored rules: active version, rule count, who and when."""
    from pgwarden.quality.rulestore import list_rules

    with open_services() as svc:
        rows = list_rules(svc)
    if as_json:
        print_json(rows)
        return
    table = Table("source", "version", "rules", "by", "at")
    for r in rows:
        table.add_row(escape(r["source"]), str(r["version"]), str(r["rules"]),
                      escape(r["created_by"] or ""), r["created_at"].isoformat())  # fmt: skip
    out.print(table)


@rules_app.command("history")
def rules_history_cmd(source: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every stored version of a source's rules, newest first."""
    from pgwarden.quality.rulestore import rules_history

    with open_services() as svc:
        rows = rules_history(svc, source)
    if as_json:
        print_json(rows)
        return
    table = Table("version", "rules", "by", "at")
    for r in rows:
        table.add_row(str(r["version"]), str(r["rules"]), escape(r["created_by"] or ""),
                      r["created_at"].isoformat())  # fmt: skip
    out.print(table)
