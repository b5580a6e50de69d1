"""model outputs: no index by cycle (every batch's output rows paid for it)

The (cycle_id, version_id) index of detection_model_run_outputs served one
statement, the clean-up of a cycle left half-done by a session that died;
it now probes the (model_id, cycle_started_at) index once per model of the
cycle's runs. Keeping it cost about 4 % of a 500-record pipeline batch
(interleaved A/B, benchmarks/pipeline.py's models) in index maintenance.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute("DROP INDEX IF EXISTS detection_model_run_outputs_cycle")


def downgrade(schema: str) -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS detection_model_run_outputs_cycle"
        " ON detection_model_run_outputs (cycle_id, version_id)"
    )
