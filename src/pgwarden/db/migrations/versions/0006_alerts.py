"""alerts: anomalies, alerts, deliveries, daily quality state

Revision ID: 0006
Revises: 0005
"""

from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    pass


def downgrade(schema: str) -> None:
    pass
