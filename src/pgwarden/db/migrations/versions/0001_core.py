"""core: system_config, config_history, workers, heartbeats

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE system_config (
            key         text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
            value       jsonb NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            updated_by  text
        );
        CREATE TABLE config_history (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key         text NOT NULL,
            old_value   jsonb,
            new_value   jsonb,
            changed_by  text,
            changed_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX config_history_key_idx ON config_history (key, changed_at DESC);
        CREATE TABLE workers (
            name           text PRIMARY KEY,
            hostname       text NOT NULL,
            pid            integer NOT NULL,
            concurrency    integer NOT NULL DEFAULT 1,
            started_at     timestamptz NOT NULL DEFAULT now(),
            last_seen      timestamptz NOT NULL DEFAULT now(),
            stopped_at     timestamptz,
            jobs_done      bigint NOT NULL DEFAULT 0,
            jobs_failed    bigint NOT NULL DEFAULT 0,
            last_error     text,
            last_error_at  timestamptz
        );
        CREATE TABLE heartbeats (
            worker   text PRIMARY KEY,
            beats    bigint NOT NULL DEFAULT 1,
            last_at  timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS heartbeats, workers, config_history, system_config")
