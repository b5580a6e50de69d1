"""The demo's partition policies, from the seeds' retention table (idempotent).

Parents that do not exist are created in the `pgwarden_demo` schema with a
few plausible columns, range-partitioned on their time column and without
partitions: the first maintenance run creates them. The models feature's
`detection_model_run_outputs` (in pgwarden's schema) only gets a policy,
and only if that table exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg import sql

from pgwarden.partitions import store
from pgwarden.partitions.internal import register_internal_policies
from pgwarden.partitions.policy import TableName, build_policy

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

DEMO_SCHEMA = "pgwarden_demo"

# Seed 003 premakes six months of partitions, the current one included (its
# loop runs over months 0..5): five monthly partitions after the current one,
# and one quarter after the current quarter.
MONTHLY_PREMAKE = 5
QUARTERLY_PREMAKE = 1


@dataclass(frozen=True)
class DemoTable:
    name: str
    key: str
    key_type: str
    columns: str  # column definitions other than id and the key (a fixed literal)
    interval: str
    retention: str
    premake: int = MONTHLY_PREMAKE
    action: str = "drop"


#: Seed 003's fifteen range-partitioned tables with its intervals and
#: retentions, in the seed's order, then seed 000's raw metrics table.
DEMO_TABLES = (
    DemoTable(
        "judgment_executions",
        "created_at",
        "timestamptz",
        "line_id text NOT NULL, verdict text NOT NULL, score double precision",
        "monthly",
        "2 years",
    ),
    DemoTable(
        "workflow_instances",
        "started_at",
        "timestamptz",
        "tenant_id text NOT NULL, workflow_id text NOT NULL, status text NOT NULL, trace_id text",
        "monthly",
        "1 year",
    ),
    DemoTable(
        "workflow_execution_logs",
        "started_at",
        "timestamptz",
        "workflow_id text NOT NULL, step text NOT NULL, status text NOT NULL, duration_ms integer",
        "monthly",
        "6 months",
    ),
    DemoTable(
        "llm_calls",
        "created_at",
        "timestamptz",
        "model text NOT NULL, prompt_tokens integer, completion_tokens integer, latency_ms integer",
        "monthly",
        "6 months",
    ),
    DemoTable(
        "mcp_call_logs",
        "created_at",
        "timestamptz",
        "tool text NOT NULL, status text NOT NULL, duration_ms integer",
        "monthly",
        "3 months",
    ),
    DemoTable(
        "audit_logs",
        "created_at",
        "timestamptz",
        "actor text NOT NULL, action text NOT NULL, target text, detail jsonb",
        "monthly",
        "5 years",
    ),
    # 90 days hot, then cold: archived rather than dropped
    DemoTable(
        "raw_mes_production",
        "event_time",
        "timestamptz",
        "line_id text NOT NULL, product_code text NOT NULL, quantity integer NOT NULL, "
        "defects integer NOT NULL DEFAULT 0",
        "monthly",
        "90 days",
        action="archive",
    ),
    DemoTable(
        "raw_erp_order",
        "event_time",
        "timestamptz",
        "order_no text NOT NULL, customer text NOT NULL, product_code text NOT NULL, "
        "quantity integer NOT NULL",
        "monthly",
        "90 days",
    ),
    DemoTable(
        "raw_inventory",
        "event_time",
        "timestamptz",
        "item_code text NOT NULL, warehouse text NOT NULL, quantity integer NOT NULL",
        "monthly",
        "90 days",
    ),
    DemoTable(
        "raw_equipment_event",
        "event_time",
        "timestamptz",
        "equipment_id text NOT NULL, event_type text NOT NULL, detail jsonb",
        "monthly",
        "90 days",
    ),
    DemoTable(
        "fact_daily_production",
        "date",
        "date",
        "line_id text NOT NULL, produced integer NOT NULL, defects integer NOT NULL",
        "quarterly",
        "2 years",
        premake=QUARTERLY_PREMAKE,
    ),
    DemoTable(
        "fact_daily_defect",
        "date",
        "date",
        "line_id text NOT NULL, defect_type text NOT NULL, defects integer NOT NULL",
        "quarterly",
        "2 years",
        premake=QUARTERLY_PREMAKE,
    ),
    DemoTable(
        "fact_inventory_snapshot",
        "date",
        "date",
        "item_code text NOT NULL, warehouse text NOT NULL, on_hand integer NOT NULL",
        "quarterly",
        "1 year",
        premake=QUARTERLY_PREMAKE,
    ),
    DemoTable(
        "fact_equipment_event",
        "date",
        "date",
        "equipment_id text NOT NULL, event_type text NOT NULL, events integer NOT NULL",
        "quarterly",
        "1 year",
        premake=QUARTERLY_PREMAKE,
    ),
    DemoTable(
        "fact_hourly_production",
        "hour_timestamp",
        "timestamptz",
        "line_id text NOT NULL, produced integer NOT NULL, defects integer NOT NULL",
        "monthly",
        "3 months",
    ),
    DemoTable(
        "gear_correlation_raw_metrics",
        "observed_at",
        "timestamptz",
        "gear_a text NOT NULL, gear_b text NOT NULL, metric text NOT NULL, "
        "value double precision NOT NULL",
        "daily",
        "7 days",
        premake=3,
    ),
)


def archive_dir(services: Services) -> Path:
    return Path(services.db.settings.data_dir).parent / "partition-archive"


def register_demo_policies(services: Services) -> list[str]:
    """Create missing demo parents and their policies; return every demo table with a policy.

    A policy that already exists is left as it is (it may have been tuned).
    """
    db = services.db
    existing = {p.table for p in store.list_policies(db)}
    with db.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(DEMO_SCHEMA)))
        for t in DEMO_TABLES:
            # columns and key types are fixed literals of this module, never user input
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {t} (id bigserial NOT NULL, {k} "
                    + t.key_type
                    + " NOT NULL, "
                    + t.columns
                    + ", PRIMARY KEY (id, {k})) "
                    "PARTITION BY RANGE ({k})"
                ).format(t=sql.Identifier(DEMO_SCHEMA, t.name), k=sql.Identifier(t.key))
            )
    done: list[str] = []
    archive = archive_dir(services)
    for t in DEMO_TABLES:
        name = TableName(DEMO_SCHEMA, t.name)
        if name not in existing:
            policy = build_policy(
                name,
                interval=t.interval,
                retention=t.retention,
                premake=t.premake,
                action=t.action,
                archive_dir=str(archive) if t.action == "archive" else None,
            )
            store.save_policy(db, policy, "add", who="pgwarden demo")
        done.append(str(name))
    done.extend(register_internal_policies(services))
    log.info("demo partition policies: %d", len(done), extra={"action": "demo_policies"})
    return done
