"""What `pgwarden db status` (and the demo summary) reports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.conninfo import describe_target
from pgwarden.db.pool import connect
from pgwarden.db.queries import Queries
from pgwarden.services import Services
from pgwarden.settings import Settings


def collect_status(s: Settings) -> dict[str, Any]:
    db = connect(s, name="pgwarden-status")
    q = Queries("pgwarden.db", db.schema)
    try:
        with db.connection() as conn:
            version = conn.execute(q["server_version"]).fetchone()
            preload = conn.execute(q["preloaded_libraries"]).fetchone()
            revision = migrate.stored_revision(conn, db.schema)
        info: dict[str, Any] = {
            "server": f"PostgreSQL {version[0] if version else '?'}",
            "mode": "embedded" if db.embedded else "external",
            "target": describe_target(db.conninfo),
            "data_dir": str(db.data_dir) if db.data_dir else None,
            "schema": db.schema,
            "revision": revision or "base",
            "head": migrate.head(),
            "preloaded": preload[0] if preload else "",
        }
        workers: list[dict[str, Any]] = []
        if revision is not None:
            # lazy for start-up time: every `pgwarden` command imports this module
            from pgwarden.service.worker import list_workers

            services = Services(db=db, config=RuntimeConfig(db))
            workers = [asdict(w) for w in list_workers(services)]
        info["live_workers"] = sum(1 for w in workers if w["alive"])
        info["workers"] = workers
        return info
    finally:
        db.close()
