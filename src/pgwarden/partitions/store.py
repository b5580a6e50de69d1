"""Policies in `partition_policies`: add, change, remove, list, every change audited.

A policy is checked (pure rules, then the table in the catalog) before it is
written, and written with its audit row in one transaction, so a bad change
leaves nothing behind. Runs read policies fresh from here every time: a
change is in force at the next run without any restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.db.pool import Database
from pgwarden.db.queries import Queries
from pgwarden.errors import PartitionPolicyInvalid
from pgwarden.partitions import bounds, catalog
from pgwarden.partitions.planner import TableState
from pgwarden.partitions.policy import (
    Policy,
    Span,
    TableName,
    build_policy,
    parse_table_name,
    validate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyChange:
    policy: Policy
    adopted: int  # partitions already attached, adopted by their bounds
    has_default: bool


def queries(db: Database) -> Queries:
    return Queries("pgwarden.partitions", db.schema)


def row_to_policy(row: tuple[Any, ...]) -> Policy:
    """A Policy from a policy row (list_policies' or get_policy_for_update's)."""
    (
        schema,
        name,
        unit,
        count,
        premake,
        r_months,
        r_days,
        action,
        archive_dir,
        keep,
        max_drops,
        naming_t,
        tz,
        default_mode,
        enabled,
        priority,
    ) = row[:16]  # list_policies adds the row's version
    return Policy(
        table=TableName(schema, name),
        interval_unit=unit,
        interval_count=count,
        premake=premake,
        retention=None if r_months is None else Span(r_months, r_days),
        retention_action=action,
        archive_dir=archive_dir,
        keep_at_least=keep,
        max_drops_per_run=max_drops,
        naming=naming_t,
        timezone=tz,
        default_mode=default_mode,
        enabled=enabled,
        priority=priority,
    )


def list_policies(
    db: Database, *, enabled_only: bool = False, conn: psycopg.Connection | None = None
) -> list[Policy]:
    """Every stored policy; on `conn` when given (a run reads them on its own connection)."""
    if conn is None:
        with db.connection() as own:
            rows = own.execute(queries(db)["list_policies"]).fetchall()
    else:
        rows = conn.execute(queries(db)["list_policies"]).fetchall()
    found = [row_to_policy(r) for r in rows]
    return [p for p in found if p.enabled] if enabled_only else found


def get_policy(db: Database, table: str | TableName) -> Policy:
    name = table if isinstance(table, TableName) else parse_table_name(table)
    for p in list_policies(db):
        if p.table == name:
            return p
    raise PartitionPolicyInvalid(str(name), "table", str(name), "no policy for this table")


def check_table(state: TableState) -> None:
    """Raise unless the parent exists and is range-partitioned on one time column."""
    t = str(state.policy.table)
    if not state.exists:
        raise PartitionPolicyInvalid(t, "table", t, "no such table")
    if not state.range_partitioned:
        raise PartitionPolicyInvalid(
            t,
            "table",
            t,
            "not range-partitioned on a single column; create it with "
            "PARTITION BY RANGE (time_column)",
        )
    if state.key_type not in bounds.KEY_TYPES:
        raise PartitionPolicyInvalid(
            t,
            "key",
            f"{state.key_column} {state.key_type}",
            "the partition key must be timestamptz, timestamp or date",
        )


def add_policy(
    db: Database, table: str, *, who: str | None = None, replace: bool = False, **options: Any
) -> PolicyChange:
    """Create a policy for `table` (raises if one exists unless `replace`).

    `options` are those of `policy.build_policy` (interval, premake, retention, action, ...).
    """
    name = parse_table_name(table)
    policy = build_policy(name, **options)
    return _write(db, policy, "add", who=who, must_exist=False if not replace else None)


def set_policy(db: Database, table: str, *, who: str | None = None, **options: Any) -> PolicyChange:
    """Change some fields of an existing policy; the rest stay as they are."""
    current = get_policy(db, table)
    policy = build_policy(current.table, base=current, **options)
    return _write(db, policy, "set", who=who, must_exist=True)


def save_policy(db: Database, policy: Policy, change: str, who: str | None = None) -> PolicyChange:
    """Write a ready-made Policy (importers, demo): validated like any other."""
    validate(policy)
    return _write(db, policy, change, who=who, must_exist=None)


def remove_policy(db: Database, table: str, *, who: str | None = None) -> Policy:
    current = get_policy(db, table)
    q = queries(db)
    with db.connection() as conn, conn.transaction():
        conn.execute(q["delete_policy"], _names(current.table))
        conn.execute(
            q["audit"],
            {
                **_names(current.table),
                "change": "remove",
                "old": Jsonb(current.to_dict()),
                "new": None,
                "who": who or default_actor(),
            },
        )
    log.info("policy removed for %s", current.table, extra={"action": "policy_remove"})
    return current


def _names(t: TableName) -> dict[str, str]:
    return {"schema_name": t.schema, "table_name": t.name}


def _write(
    db: Database, policy: Policy, change: str, *, who: str | None, must_exist: bool | None
) -> PolicyChange:
    q = queries(db)
    t = str(policy.table)
    with db.connection() as conn, conn.transaction():
        state = catalog.read_states(conn, q, [policy], count_default=False)[0]
        check_table(state)
        old = conn.execute(q["get_policy_for_update"], _names(policy.table)).fetchone()
        if must_exist is False and old is not None:
            raise PartitionPolicyInvalid(
                t, "table", t, "already has a policy; use `pgwarden partitions set`"
            )
        if must_exist is True and old is None:
            raise PartitionPolicyInvalid(t, "table", t, "no policy for this table")
        try:
            conn.execute(q["upsert_policy"], _params(policy, who))
        except psycopg.errors.CheckViolation as exc:
            raise PartitionPolicyInvalid(t, "policy", policy.to_dict(), str(exc)) from exc
        conn.execute(
            q["audit"],
            {
                **_names(policy.table),
                "change": change,
                "old": Jsonb(row_to_policy(old).to_dict()) if old else None,
                "new": Jsonb(policy.to_dict()),
                "who": who or default_actor(),
            },
        )
    log.info("policy %s for %s", change, t, extra={"action": f"policy_{change}"})
    return PolicyChange(
        policy,
        adopted=sum(1 for p in state.partitions if not p.is_default),
        has_default=state.default is not None,
    )


def _params(p: Policy, who: str | None) -> dict[str, Any]:
    return {
        "parent_schema": p.table.schema,
        "parent_name": p.table.name,
        "interval_unit": p.interval_unit,
        "interval_count": p.interval_count,
        "premake": p.premake,
        "retention": p.retention.text() if p.retention else None,
        "retention_months": p.retention.months if p.retention else None,
        "retention_days": p.retention.days if p.retention else None,
        "retention_action": p.retention_action,
        "archive_dir": p.archive_dir,
        "keep_at_least": p.keep_at_least,
        "max_drops_per_run": p.max_drops_per_run,
        "naming": p.naming,
        "timezone": p.timezone,
        "default_mode": p.default_mode,
        "enabled": p.enabled,
        "priority": p.priority,
        "who": who or default_actor(),
    }


def validate_all(db: Database) -> list[tuple[Policy, str | None]]:
    """Every stored policy with its first problem (None when it is fine)."""
    policies = list_policies(db)
    q = queries(db)
    with db.connection() as conn:
        states = catalog.read_states(conn, q, policies, count_default=False)
    out: list[tuple[Policy, str | None]] = []
    for state in states:
        try:
            validate(state.policy)
            check_table(state)
        except PartitionPolicyInvalid as exc:
            out.append((state.policy, str(exc)))
        else:
            out.append((state.policy, None))
    return out


def history(db: Database, table: str | None = None, limit: int = 50) -> list[tuple[Any, ...]]:
    name = parse_table_name(table) if table else None
    with db.connection() as conn:
        return conn.execute(
            queries(db)["audit_history"],
            {
                "schema_name": name.schema if name else None,
                "table_name": name.name if name else None,
                "limit": limit,
            },
        ).fetchall()
