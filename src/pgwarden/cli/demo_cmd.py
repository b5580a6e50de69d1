"""`pgwarden demo`: the main job on the embedded database."""

from __future__ import annotations

import typer

from pgwarden.cli.common import out, settings


def register(app: typer.Typer) -> None:
    @app.command()
    def demo() -> None:
        """Start the embedded server, migrate, run a worker until a heartbeat ran, summarise."""
        from pgwarden.demo.run import run_demo

        summary = run_demo(settings())
        for line in summary:
            out.print(line, highlight=False)
