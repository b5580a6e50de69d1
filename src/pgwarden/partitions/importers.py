"""Import policies from pg_partman's part_config and from the seed's system_config keys.

Both importers only write policies (validated and audited like any other);
the partitions themselves are adopted by their catalog bounds at the next
run, whatever pg_partman or the seed job named them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql

from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import store
from pgwarden.partitions.policy import Policy, Span, TableName, build_policy, parse_table_name

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

SEED_TABLES = {
    # seed key prefix -> (table, interval, premake key, retention key, retention unit)
    "raw_metrics": (
        "gear_correlation_raw_metrics",
        "daily",
        "create_ahead_days",
        "retention_days",
        "days",
        3,
        7,
    ),
    "detection_model_run_outputs": (
        "detection_model_run_outputs",
        "monthly",
        "create_ahead_months",
        "retention_months",
        "months",
        2,
        1,
    ),
}


@dataclass(frozen=True)
class Imported:
    table: str
    policy: Policy | None
    problem: str | None = None
    #: what was registered elsewhere instead of a partition policy (an ops retention policy)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "policy": self.policy.to_dict() if self.policy else None,
            "problem": self.problem,
            "note": self.note,
        }


def _span_text(months: int, days: int) -> str | None:
    if months and days:
        return None
    if months:
        return f"{months} months"
    if days:
        return f"{days} days"
    return None


def import_partman(services: Services, *, dry_run: bool = False) -> list[Imported]:
    """One policy per part_config row of a time-partitioned set; [] when pg_partman is absent."""
    db = services.db
    with db.connection() as conn:
        q = store.queries(db)
        found = conn.execute(q["partman_schema"]).fetchone()
        if found is None:
            return []
        rows = conn.execute(
            q.with_names("partman_config", part_config=sql.Identifier(found[0], "part_config"))
        ).fetchall()
    out: list[Imported] = []
    for parent, i_months, i_days, premake, r_months, r_days, keep_table in rows:
        interval = _span_text(i_months, i_days)
        try:
            if interval is None:
                raise PartitionPolicyInvalid(parent, "interval", parent, "not whole days/months")
            retention = _span_text(r_months or 0, r_days or 0) if r_months is not None else None
            policy = build_policy(
                parse_table_name(parent),
                interval=interval,
                premake=premake,
                retention=retention or "none",
                action="detach" if keep_table else "drop",
            )
            if not dry_run:
                store.save_policy(db, policy, "import", who="import-partman")
            out.append(Imported(str(policy.table), policy))
        except PartitionPolicyInvalid as exc:
            out.append(Imported(parent, None, str(exc)))
    return out


def read_seed_config(services: Services, schema: str = "public") -> dict[str, int]:
    """The seed job's whole-number settings from the `system_config` table of `schema`."""
    db = services.db
    with db.connection() as conn:
        rows = conn.execute(
            store.queries(db).with_names(
                "seed_config", seed_config=sql.Identifier(schema, "system_config")
            )
        ).fetchall()
    values: dict[str, int] = {}
    for key, raw in rows:
        try:
            values[key] = int(str(json.loads(raw)).strip('"'))
        except (ValueError, TypeError, json.JSONDecodeError):
            continue
    return values


def import_seed_partitions(
    services: Services, schema: str, values: dict[str, int], *, dry_run: bool = False
) -> list[Imported]:
    """Partition policies from the seed's `partition.*` keys (`read_seed_config`).

    The seed's row clean-up (`partition.scores.cleanup_days`) is an ops policy:
    `pgwarden.ops.seed_import` registers it beside these.
    """
    db = services.db
    out: list[Imported] = []
    for prefix, (table, interval, ahead_key, keep_key, unit, ahead, keep) in SEED_TABLES.items():
        ahead = values.get(f"partition.{prefix}.{ahead_key}", ahead)
        keep = values.get(f"partition.{prefix}.{keep_key}", keep)
        name = TableName(schema, table)
        try:
            policy = build_policy(
                name,
                interval=interval,
                premake=ahead,
                retention=Span(
                    keep if unit == "months" else 0, keep if unit == "days" else 0
                ).text(),
            )
            if not dry_run:
                store.save_policy(db, policy, "import", who="import-seed-config")
            out.append(Imported(str(name), policy))
        except PartitionPolicyInvalid as exc:
            out.append(Imported(str(name), None, str(exc)))
    return out
