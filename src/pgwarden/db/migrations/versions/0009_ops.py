"""ops: runs, backups, retention and masking policies (filled by the operations work)

Revision ID: 0009
Revises: 0008
"""

from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    pass


def downgrade(schema: str) -> None:
    pass
