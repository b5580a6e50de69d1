"""partitions: partition_policies, partition_policy_audit, partition_runs, partition_run_tables

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # The CHECKs repeat the rules of pgwarden.partitions.policy so that a policy
    # written with plain SQL cannot break the invariants the planner relies on.
    op.execute(
        """
        CREATE TABLE partition_policies (
            parent_schema      text NOT NULL CHECK (length(parent_schema) BETWEEN 1 AND 63),
            parent_name        text NOT NULL CHECK (length(parent_name) BETWEEN 1 AND 63),
            interval_unit      text NOT NULL CHECK (interval_unit IN ('days', 'months')),
            interval_count     integer NOT NULL CHECK (interval_count BETWEEN 1 AND 3660),
            premake            integer NOT NULL DEFAULT 4 CHECK (premake BETWEEN 0 AND 1000),
            retention          text,
            retention_months   integer CHECK (retention_months >= 0),
            retention_days     integer CHECK (retention_days >= 0),
            retention_action   text NOT NULL DEFAULT 'drop'
                               CHECK (retention_action IN ('drop', 'detach', 'archive')),
            archive_dir        text,
            keep_at_least      integer NOT NULL DEFAULT 1 CHECK (keep_at_least >= 0),
            max_drops_per_run  integer NOT NULL DEFAULT 100 CHECK (max_drops_per_run >= 1),
            naming             text NOT NULL DEFAULT '{parent}_p{YYYYMMDD}'
                               CHECK (position('{parent}' IN naming) > 0),
            timezone           text NOT NULL DEFAULT 'UTC',
            default_mode       text NOT NULL DEFAULT 'none'
                               CHECK (default_mode IN ('none', 'keep-empty')),
            enabled            boolean NOT NULL DEFAULT true,
            priority           integer NOT NULL DEFAULT 100,
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now(),
            updated_by         text,
            PRIMARY KEY (parent_schema, parent_name),
            CHECK (interval_unit <> 'months' OR interval_count <= 120),
            CHECK ((retention IS NULL) = (retention_months IS NULL)
                   AND (retention IS NULL) = (retention_days IS NULL)),
            CHECK (retention IS NULL OR retention_months + retention_days > 0),
            CHECK (retention_action <> 'archive' OR archive_dir IS NOT NULL)
        );
        CREATE TABLE partition_policy_audit (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            parent_schema  text NOT NULL,
            parent_name    text NOT NULL,
            change         text NOT NULL CHECK (change IN ('add', 'set', 'remove', 'import')),
            old_value      jsonb,
            new_value      jsonb,
            changed_by     text,
            changed_at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX partition_policy_audit_parent_idx
            ON partition_policy_audit (parent_schema, parent_name, changed_at DESC);
        CREATE TABLE partition_runs (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind         text NOT NULL CHECK (kind IN ('maintenance', 'restore', 'retention')),
            started_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            status       text NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'ok', 'partial', 'failed', 'skipped')),
            dry_run      boolean NOT NULL DEFAULT false,
            actions      jsonb NOT NULL DEFAULT '[]',
            errors       jsonb NOT NULL DEFAULT '[]',
            message      text,
            run_by       text
        );
        CREATE INDEX partition_runs_started_idx ON partition_runs (started_at DESC);
        CREATE TABLE partition_run_tables (
            run_id         bigint NOT NULL REFERENCES partition_runs (id) ON DELETE CASCADE,
            parent_schema  text NOT NULL,
            parent_name    text NOT NULL,
            status         text NOT NULL CHECK (status IN ('ok', 'failed', 'skipped')),
            started_at     timestamptz NOT NULL,
            duration_ms    double precision NOT NULL,
            actions        integer NOT NULL DEFAULT 0,
            error          text,
            PRIMARY KEY (run_id, parent_schema, parent_name)
        );
        CREATE INDEX partition_run_tables_parent_idx
            ON partition_run_tables (parent_schema, parent_name, started_at DESC);
        """
    )


def downgrade(schema: str) -> None:
    op.execute(
        "DROP TABLE IF EXISTS partition_run_tables, partition_runs, "
        "partition_policy_audit, partition_policies"
    )
