"""`pgwarden partitions ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="partitions commands", no_args_is_help=True)
