"""The seed job's system_config keys: partition policies and the scores clean-up.

Partition policies come from `pgwarden.partitions.importers`; the seed's
clean-up of stale scores (`partition.scores.cleanup_days`) is a row
retention policy, which belongs to ops. This module joins the two, so that
partitions never has to import ops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgwarden.errors import PgwardenError
from pgwarden.ops.lifecycle import add_policy
from pgwarden.partitions.importers import Imported, import_seed_partitions, read_seed_config

if TYPE_CHECKING:
    from pgwarden.services import Services

CLEANUP_KEY = "partition.scores.cleanup_days"


def import_seed_config(
    services: Services, schema: str = "public", *, dry_run: bool = False
) -> list[Imported]:
    """Policies from the seed job's `partition.*` keys in a system_config table of `schema`."""
    values = read_seed_config(services, schema)
    out = import_seed_partitions(services, schema, values, dry_run=dry_run)
    if CLEANUP_KEY in values:
        out.append(_import_cleanup(services, schema, values[CLEANUP_KEY], dry_run))
    return out


def _import_cleanup(services: Services, schema: str, days: int, dry_run: bool) -> Imported:
    """The seed's stale-score clean-up becomes a stored ops retention policy."""
    table = f"{schema}.gear_correlation_scores"
    try:
        policy = add_policy(
            services,
            "retention",
            table,
            "last_observed_at",
            older_than=f"{days} days",
            source="import-seed-config",
            save=not dry_run,
        )
    except PgwardenError as exc:
        return Imported(table, None, f"cleanup_days={days} not registered: {exc}")
    what = "would register" if dry_run else f"registered ops retention policy {policy.id}:"
    return Imported(table, None, None, f"{what} {policy.describe()}")
