"""Restore an archived partition: verify the file, load it, attach it, record the run.

The rows are loaded into a plain table that is not yet part of the parent,
given a CHECK matching the bounds, then ATTACHed (no scan, SHARE UPDATE
EXCLUSIVE on the parent) and the CHECK dropped, all in one transaction: the
partition appears with every row or not at all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.errors import ArchiveInvalid
from pgwarden.partitions import archive, ddl, naming, store

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreReport:
    run_id: int
    dry_run: bool
    parent: str
    partition: str
    lower: str
    upper: str
    rows: int
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def restore_archive(
    services: Services, path: str | Path, *, dry_run: bool = False, who: str | None = None
) -> RestoreReport:
    """Re-create and re-attach the archived partition with every row; raises ArchiveInvalid."""
    started = time.perf_counter()
    manifest = archive.verify(path)
    d = manifest.data
    db = services.db
    q = store.queries(db)
    timeout = services.config.get("partitions.lock_timeout")
    with db.connection() as conn:
        name = d["partition"]["name"]
        exists = conn.execute(
            q["relation_exists"],
            {"schema_name": d["partition"]["schema"], "table_name": name},
        ).fetchone()
        if exists and exists[0]:
            name = naming.fallback(name, _date(d["lower"]), _date(d["upper"]))
        plan = archive.restore_statements(manifest, name)
        parent_txt = f"{d['parent']['schema']}.{d['parent']['name']}"
        with conn.transaction():
            run = conn.execute(
                q["start_run"],
                {
                    "kind": "restore",
                    "dry_run": dry_run,
                    "who": who or default_actor(),
                    "status": "running",
                },
            ).fetchone()
        assert run is not None
        run_id = int(run[0])
        rows = manifest.rows
        error = None
        try:
            if not dry_run:
                with conn.transaction():
                    conn.execute(ddl.set_lock_timeout(timeout))
                    parent, child = plan["parent"], plan["child"]
                    conn.execute(ddl.create_like(child, parent))
                    archive.copy_in(conn, manifest, child)
                    args = (plan["lower"], plan["upper"], plan["key_type"], plan["tz"])
                    conn.execute(ddl.add_bounds_check(child, plan["key_column"], *args))
                    conn.execute(ddl.attach(parent, child, *args))
                    conn.execute(ddl.drop_bounds_check(child))
                    got = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(child)).fetchone()
                    if got is None or got[0] != rows:
                        raise ArchiveInvalid(path, f"loaded {got} rows, manifest says {rows}")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with conn.transaction():
                conn.execute(
                    q["finish_run"],
                    {
                        "id": run_id,
                        "status": "failed" if error else "ok",
                        "actions": Jsonb(
                            [
                                {
                                    "action": "restore",
                                    "table": parent_txt,
                                    "partition": f"{d['partition']['schema']}.{name}",
                                    "lower": d["lower"],
                                    "upper": d["upper"],
                                    "rows": rows,
                                    "file": str(manifest.path),
                                }
                            ]
                        ),
                        "errors": Jsonb([error] if error else []),
                        "message": ("would restore " if dry_run else "restored ")
                        + f"{rows} rows into {name}",
                    },
                )
    log.info(
        "restore of %s into %s: %d rows%s",
        manifest.path,
        name,
        rows,
        " (dry run)" if dry_run else "",
        extra={"action": "partition_restore"},
    )
    return RestoreReport(
        run_id,
        dry_run,
        parent_txt,
        f"{d['partition']['schema']}.{name}",
        d["lower"],
        d["upper"],
        rows,
        (time.perf_counter() - started) * 1000,
    )


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text[:10])
