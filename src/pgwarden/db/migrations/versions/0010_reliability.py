"""reliability: per-batch step completion (filled by the reliability work)

Revision ID: 0010
Revises: 0009
"""

from alembic import op  # noqa: F401

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    pass


def downgrade(schema: str) -> None:
    pass
