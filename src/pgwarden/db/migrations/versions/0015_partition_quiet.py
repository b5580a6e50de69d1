"""partitions: partition_quiet, how long a settled parent stays settled

A maintenance run with nothing to do read every child's bounds (a thousand
pg_get_expr calls for a hundred parents) and planned them all, only to find
what the last run found. A run now stamps each parent it found settled with
what it read (the parent's oid, its policy row's version, a hash of its
pg_inherits rows) and the instant its plan can next change; a later run
skips the bounds of a parent whose stamp still holds. See
pgwarden.partitions.planner.quiet_until.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE partition_quiet (
            parent_schema   text NOT NULL,
            parent_name     text NOT NULL,
            parent_oid      oid NOT NULL,
            policy_version  text NOT NULL,
            children        integer NOT NULL CHECK (children > 0),
            children_hash   bigint NOT NULL,
            quiet_from      timestamptz NOT NULL,
            quiet_until     timestamptz NOT NULL CHECK (quiet_until > quiet_from),
            PRIMARY KEY (parent_schema, parent_name)
        )
        """
    )


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS partition_quiet")
