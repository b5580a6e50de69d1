"""seed fidelity and performance (filled by later work; empty until then)

Revision ID: 0011
Revises: 0010
"""

from alembic import op  # noqa: F401

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    pass


def downgrade(schema: str) -> None:
    pass
