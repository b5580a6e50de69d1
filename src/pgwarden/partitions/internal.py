"""Partition policies for pgwarden's own append-only tables (idempotent).

Run by `pgwarden db upgrade` and `pgwarden run`: the tables are created by
their migrations with a DEFAULT partition, and kept here by policy like any
other partitioned table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import store
from pgwarden.partitions.policy import TableName, build_policy

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

#: pgwarden's own append-only tables: (table, interval, retention, premake).
#: Each is created by its migration with a DEFAULT partition, kept empty here.
INTERNAL_TABLES = (
    ("detection_model_run_outputs", "monthly", "1 month", 2),
    ("quality_batches", "monthly", "6 months", 2),
    ("quality_violations", "monthly", "3 months", 2),
    ("health_snapshots", "daily", "15 days", 3),
    ("health_statements", "daily", "35 days", 3),
)


def register_internal_policies(services: Services) -> list[str]:
    """Policies for pgwarden's own partitioned tables (idempotent; a tuned policy stays).

    Returns the tables that have a policy. A table whose migration has not run
    yet is skipped.
    """
    db = services.db
    q = store.queries(db)
    existing = {p.table for p in store.list_policies(db)}
    done: list[str] = []
    for table, interval, retention, premake in INTERNAL_TABLES:
        name = TableName(db.schema, table)
        with db.connection() as conn:
            found = conn.execute(
                q["relation_exists"], {"schema_name": name.schema, "table_name": name.name}
            ).fetchone()
        if not (found and found[0]):
            continue
        if name not in existing:
            policy = build_policy(
                name,
                interval=interval,
                retention=retention,
                premake=premake,
                default_mode="keep-empty",
            )
            try:
                store.save_policy(db, policy, "add", who="pgwarden")
            except PartitionPolicyInvalid as exc:
                log.warning(
                    "no policy for %s: %s", name, exc, extra={"action": "internal_policy_skipped"}
                )
                continue
        done.append(str(name))
    return done
