"""Partition lifecycle by policy: plan (pure) and apply, archive, restore, retention.

(Row retention on unpartitioned tables is an ops policy: `pgwarden.ops.row_retention`.)

Public entry points, all synchronous and taking the foundation's `Services`:
`plan_all`, `run_maintenance`, `status`, `register_internal_policies`,
`restore_archive`.
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

__all__ = [
    "Action",
    "Plan",
    "PlanWarning",
    "Policy",
    "RunReport",
    "TableName",
    "TableStatus",
    "parse_table_name",
    "plan_all",
    "register_internal_policies",
    "restore_archive",
    "run_maintenance",
    "status",
]
