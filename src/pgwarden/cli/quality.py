"""`pgwarden quality ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="quality commands", no_args_is_help=True)
