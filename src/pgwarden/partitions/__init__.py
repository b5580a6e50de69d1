"""Partition lifecycle by policy: plan (pure) and apply, archive, restore, retention.

Public entry points, all synchronous and taking the foundation's `Services`:
`plan_all`, `run_maintenance`, `status`, `register_internal_policies`,
`restore_archive`, `delete_old_rows`.
"""

from pgwarden.partitions.internal import register_internal_policies
from pgwarden.partitions.maintain import (
    RunReport,
    TableStatus,
    plan_all,
    run_maintenance,
    status,
)
from pgwarden.partitions.planner import Action, Plan, PlanWarning
from pgwarden.partitions.policy import Policy, TableName, parse_table_name
from pgwarden.partitions.restore import restore_archive
from pgwarden.partitions.retention import RetentionReport, delete_old_rows

__all__ = [
    "Action",
    "Plan",
    "PlanWarning",
    "Policy",
    "RetentionReport",
    "RunReport",
    "TableName",
    "TableStatus",
    "delete_old_rows",
    "parse_table_name",
    "plan_all",
    "register_internal_policies",
    "restore_archive",
    "run_maintenance",
    "status",
]
