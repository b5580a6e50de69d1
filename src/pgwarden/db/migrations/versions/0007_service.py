"""service: ingested batches, the polled inbox, API tokens

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE ingest_batches (
            batch_id          text PRIMARY KEY CHECK (length(batch_id) BETWEEN 1 AND 128),
            source            text NOT NULL CHECK (source ~ '^[A-Za-z0-9_.-]{1,64}$'),
            channel           text NOT NULL CHECK (channel IN ('http', 'table', 'folder',
                                                               'simulator', 'api')),
            received_at       timestamptz NOT NULL DEFAULT now(),
            format            text NOT NULL,
            payload           bytea,
            payload_bytes     integer NOT NULL,
            metadata          jsonb NOT NULL DEFAULT '{}',
            status            text NOT NULL DEFAULT 'PENDING'
                              CHECK (status IN ('PENDING', 'PROCESSING', 'DONE', 'REJECTED',
                                                'FAILED')),
            attempts          integer NOT NULL DEFAULT 0,
            records           integer,
            quality_level     text,
            quality_overall   double precision,
            reject_reason     text,
            error             text,
            cycle_id          text,
            models_ok         integer,
            models_failed     integer,
            started_at        timestamptz,
            processed_at      timestamptz,
            duration_seconds  double precision
        );
        CREATE INDEX ingest_batches_source_idx ON ingest_batches (source, received_at DESC);
        CREATE INDEX ingest_batches_status_idx ON ingest_batches (status)
            WHERE status IN ('PENDING', 'PROCESSING');
        CREATE INDEX ingest_batches_received_idx ON ingest_batches (received_at DESC);

        CREATE TABLE ingest_inbox (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source      text NOT NULL,
            record      jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            batch_id    text
        );
        CREATE INDEX ingest_inbox_pending_idx ON ingest_inbox (source, id) WHERE batch_id IS NULL;

        CREATE TABLE api_tokens (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name          text NOT NULL,
            token_sha256  text NOT NULL UNIQUE,
            created_at    timestamptz NOT NULL DEFAULT now(),
            revoked_at    timestamptz
        );
        """
    )


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS api_tokens, ingest_inbox, ingest_batches")
