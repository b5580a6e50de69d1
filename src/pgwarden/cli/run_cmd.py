"""`pgwarden run` and `pgwarden token`: the service in one process, and API tokens."""

from __future__ import annotations

import typer

from pgwarden.cli.common import err, open_services, out, settings
from pgwarden.service import WORKER_CONCURRENCY


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        host: str | None = typer.Option(None, help="default PGWARDEN_HTTP_HOST"),
        port: int | None = typer.Option(None, help="default PGWARDEN_HTTP_PORT"),
        concurrency: int = typer.Option(
            WORKER_CONCURRENCY, "--concurrency", "-c", min=1, max=64, help="jobs run at once"
        ),
        upgrade: bool = typer.Option(True, help="apply migrations first"),
    ) -> None:
        """Worker + periodic schedule + HTTP API and dashboard, until SIGTERM/SIGINT."""
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.service.api.auth import check_bind, ensure_token
        from pgwarden.service.runner import run_service

        s = settings()
        if upgrade:
            # lazy for start-up time: every `pgwarden` command imports this module
            from pgwarden.db import migrate
            from pgwarden.db.pool import resolve_conninfo

            migrate.upgrade(resolve_conninfo(s), s.schema_name)
        with open_services("pgwarden-run") as svc:
            # lazy for start-up time: every `pgwarden` command imports this module
            from pgwarden.partitions import register_internal_policies

            register_internal_policies(svc)
            check_bind(svc, host or s.http_host)  # before a token is made for this start
            token = ensure_token(svc)
            if token:
                err.print(
                    "[bold]API token (shown once; store it):[/] "
                    f"{token}\n  use it as 'Authorization: Bearer <token>' for write endpoints",
                    highlight=False,
                )
            run_service(
                svc,
                host=host or s.http_host,
                port=port or s.http_port,
                concurrency=concurrency,
                on_ready=lambda url: err.print(
                    f"serving on {url} (dashboard {url}/, API {url}/docs)"
                ),
            )

    token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
    app.add_typer(token_app, name="token")

    @token_app.command("new")
    def token_new(name: str = typer.Option("cli", help="a label for the token")) -> None:
        """Make a new API token and print it (only its hash is stored)."""
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.service.api.auth import new_token

        with open_services() as svc:
            out.print(new_token(svc, name), highlight=False)
