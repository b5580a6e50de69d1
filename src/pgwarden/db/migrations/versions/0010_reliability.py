"""reliability: detaches left pending by an interrupted archive, per-batch step completion

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        -- A partition pgwarden detaches to archive is recorded here first; the row
        -- goes when the archive is written and the table dropped. A row left
        -- behind (a crash, a full disk) is finished or re-attached by the next run.
        CREATE TABLE partition_detach_steps (
            schema_name     text NOT NULL,
            partition_name  text NOT NULL,
            parent_schema   text NOT NULL,
            parent_name     text NOT NULL,
            lower_bound     timestamptz NOT NULL,
            upper_bound     timestamptz NOT NULL,
            archive_dir     text NOT NULL,
            started_at      timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            PRIMARY KEY (schema_name, partition_name)
        );

        -- The after-batch steps done for each batch, each recorded in the same
        -- transaction as its effects: a retry or the sweep runs the missing ones.
        CREATE TABLE batch_steps (
            batch_id  text NOT NULL,
            step      text NOT NULL CHECK (step ~ '^[a-z_]{1,40}$'),
            done_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (batch_id, step)
        );
        -- batches evaluated before this table existed did their step
        INSERT INTO batch_steps (batch_id, step)
        SELECT batch_id, 'after_batch' FROM quality_evaluations
        ON CONFLICT DO NOTHING;
        """
    )


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS batch_steps, partition_detach_steps")
