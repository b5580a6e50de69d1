"""pipeline: small queued batches of one source coalesced into one model cycle

`ingest_batches.coalesced_into` names the batch whose model cycle a batch
joined (the group's first batch, itself included). It is set when the group
is formed, in the transaction that claims its batches, so a retried job
re-forms the same group and no batch's records reach two cycles.

The expression index finds a queued batch's job (procrastinate keeps the
batch id in the job's args) when a group is formed and when its jobs are
finished with the group's closing commit.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        ALTER TABLE ingest_batches ADD COLUMN coalesced_into text;
        CREATE INDEX ingest_batches_coalesced_idx ON ingest_batches (coalesced_into)
            WHERE coalesced_into IS NOT NULL;
        CREATE INDEX pgwarden_jobs_todo_batch_idx ON procrastinate_jobs ((args->>'batch_id'))
            WHERE status = 'todo';
        """
    )


def downgrade(schema: str) -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS pgwarden_jobs_todo_batch_idx;
        DROP INDEX IF EXISTS ingest_batches_coalesced_idx;
        ALTER TABLE ingest_batches DROP COLUMN IF EXISTS coalesced_into;
        """
    )
