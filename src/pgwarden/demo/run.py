"""`pgwarden demo`: everything on the embedded database, end to end."""

from __future__ import annotations

import time

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.config.settings import Settings
from pgwarden.db import migrate
from pgwarden.db.pool import connect
from pgwarden.db.queries import Queries
from pgwarden.service.app import Services
from pgwarden.service.defer import defer
from pgwarden.service.tasks import HEARTBEAT
from pgwarden.service.worker import list_workers, run_worker

HEARTBEAT_TIMEOUT = 60.0  # seconds


def run_demo(settings: Settings) -> list[str]:
    """Start, migrate, run a worker until a heartbeat ran; return summary lines."""
    db = connect(settings, name="pgwarden-demo")
    try:
        revision = migrate.upgrade(db.conninfo, db.schema)
        services = Services(db=db, config=RuntimeConfig(db))
        q = Queries("pgwarden.service", db.schema)
        started = time.monotonic()
        defer(services, HEARTBEAT)
        run_worker(services, wait=False, install_signal_handlers=False, name="demo-worker")
        with db.connection() as conn:
            beat = conn.execute(q["last_heartbeat"]).fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        if beat is None:
            raise RuntimeError(
                f"no heartbeat within {HEARTBEAT_TIMEOUT:.0f} s; see `pgwarden db status`"
            )
        workers = list_workers(services)
        keys = services.config.entries()
        return [
            f"server:    PostgreSQL {version[0] if version else '?'} "
            f"({'embedded in ' + str(db.data_dir) if db.embedded else 'external'})",
            f"revision:  {revision}",
            f"heartbeat: ran on {beat[0]} in {time.monotonic() - started:.2f} s",
            f"workers:   {len(workers)} known, {sum(w.alive for w in workers)} alive",
            f"config:    {len(keys)} runtime keys "
            f"({sum(e.source == 'database' for e in keys)} set in the database)",
        ]
    finally:
        db.close()
