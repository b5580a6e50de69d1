"""`pgwarden worker`: one more worker against the same database."""

from __future__ import annotations

import typer

from pgwarden.cli.common import err, open_services
from pgwarden.service import WORKER_CONCURRENCY


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        concurrency: int = typer.Option(
            WORKER_CONCURRENCY,
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="jobs run at once: one batch's work overlaps the others' database waits "
            "(three: about 1.3x one at a time on 2 cores; batches of one source still run in "
            "order; each may hold up to quality.max_memory_mb)",
        ),
        name: str | None = typer.Option(None, help="worker name (default host-pid-random)"),
        queue: list[str] | None = typer.Option(None, "--queue", "-q", help="only these queues"),
    ) -> None:
        """Run jobs until SIGTERM/SIGINT; a running job finishes before the worker stops."""
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.service.worker import run_worker

        with open_services("pgwarden-worker") as svc:
            err.print(f"worker starting (concurrency {concurrency}); Ctrl-C stops it")
            run_worker(svc, concurrency=concurrency, name=name, queues=queue or None)
