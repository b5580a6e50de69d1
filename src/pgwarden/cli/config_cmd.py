"""`pgwarden config ...`: start-up settings and runtime keys."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from pgwarden.cli.common import open_services, out, print_json, settings
from pgwarden.config import docs
from pgwarden.config.keys import ALL_KEYS

app = typer.Typer(help="Settings and runtime config.", no_args_is_help=True)


@app.command()
def show(as_json: bool = typer.Option(False, "--json")) -> None:
    """The effective start-up settings (PGWARDEN_*, pgwarden.toml), passwords masked."""
    values = settings().masked()
    if as_json:
        print_json(values)
        return
    table = Table("setting", "value")
    for k, v in values.items():
        table.add_row(k, str(v))
    out.print(table)


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every runtime key: value, default and where the value comes from."""
    with open_services() as svc:
        entries = svc.config.entries()
    if as_json:
        print_json(
            [
                {
                    "key": e.key,
                    "value": e.value,
                    "default": e.default,
                    "source": e.source,
                    "stored": e.stored,
                    "problem": e.problem,
                    "description": e.description,
                }
                for e in entries
            ]
        )
        return
    table = Table("key", "value", "default", "source", "description")
    for e in entries:
        source = e.source if not e.problem else f"[red]invalid stored {e.stored}[/]"
        table.add_row(e.key, json.dumps(e.value), json.dumps(e.default), source, e.description)
    out.print(table)


@app.command()
def get(key: str) -> None:
    """Print one key's effective value as JSON."""
    with open_services() as svc:
        out.print(json.dumps(svc.config.shown(key, svc.config.get(key))), highlight=False)


# "-0.5" is a value, not an option: let unknown dash-words through as arguments.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_key(
    key: str,
    value: str = typer.Argument(..., help="JSON, or plain text for string keys"),
    who: str | None = typer.Option(None, help="recorded in config_history"),
) -> None:
    """Validate and store a value; a bad value exits 1 and writes nothing."""
    with open_services() as svc:
        typed = svc.config.set_text(key, value, who)
    out.print(f"{key} = {json.dumps(ALL_KEYS[key].shown(typed))}", highlight=False)


@app.command()
def reset(key: str, who: str | None = typer.Option(None)) -> None:
    """Forget the stored value so the default applies again."""
    with open_services() as svc:
        svc.config.reset(key, who)
    default = ALL_KEYS[key].shown(ALL_KEYS[key].default)
    out.print(f"{key} reset to default {json.dumps(default)}", highlight=False)


@app.command()
def history(key: str | None = typer.Argument(None), limit: int = typer.Option(50)) -> None:
    """The latest writes (key, old, new, who, when)."""
    with open_services() as svc:
        rows = svc.config.history(key, limit)
    table = Table("when", "key", "old", "new", "who")
    for k, old, new, who, when in rows:
        table.add_row(str(when)[:19], k, json.dumps(old), json.dumps(new), who or "")
    out.print(table)


@app.command("docs")
def docs_cmd(
    write: Path | None = typer.Option(None, "--write", help="rewrite the table in this README"),
) -> None:
    """Print the Markdown table of runtime keys (or rewrite it inside a README)."""
    if write is None:
        out.print(docs.keys_table(ALL_KEYS), highlight=False, markup=False)
        return
    changed = docs.write_readme(write, ALL_KEYS)
    out.print(f"{write}: {'updated' if changed else 'already current'}")
