"""`pgwarden demo`: the main job on the embedded database."""

from __future__ import annotations

import typer

from pgwarden.cli.common import err, out, settings
from pgwarden.service import WORKER_CONCURRENCY


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        duration: float = typer.Option(60.0, min=1, help="seconds of simulated stream"),
        rate: float = typer.Option(2.0, min=0.1, max=200, help="batches per second"),
        serve: bool = typer.Option(False, "--serve", help="keep streaming and serving after"),
        concurrency: int = typer.Option(
            WORKER_CONCURRENCY, min=1, max=32, help="worker concurrency"
        ),
        port: int | None = typer.Option(None, help="HTTP port (default PGWARDEN_HTTP_PORT)"),
        seed: int = typer.Option(7, help="random seed of the simulated stream"),
        live: bool = typer.Option(True, help="live view while streaming"),
        backfill: bool = typer.Option(
            True,
            help="first load five past days of batches (so the anomaly detectors have "
            "history) and inject a spike, a missing-data burst and a drift into the live stream; "
            "--no-backfill streams live data only",
        ),
        setup_only: bool = typer.Option(
            False, "--setup-only", help="only migrate and register the demo policies, models, rules"
        ),
    ) -> None:
        """Run the whole pipeline on simulated data: quality, models, alerts, partitions."""
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.demo.run import DemoOptions, run_demo
        from pgwarden.demo.run import setup_only as do_setup

        if setup_only:
            for kind, names in do_setup(settings()).items():
                out.print(f"{kind}: {', '.join(names) or 'none'}", highlight=False)
            return

        opts = DemoOptions(
            duration=duration,
            rate=rate,
            serve=serve,
            concurrency=concurrency,
            seed=seed,
            live=live,
            port=port,
            backfill=backfill,
        )
        for line in run_demo(settings(), opts, console=err):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
