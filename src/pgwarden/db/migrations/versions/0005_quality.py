"""quality: batch metrics, violations, versioned rules, learned schemas, seen ids

Revision ID: 0005
Revises: 0004

quality_batches and quality_violations are range-partitioned on received_at
with a DEFAULT partition; the partitions feature creates the dated
partitions by policy and rescues rows from the default. quality_seen_ids
holds the ids of recent batches for cross-batch uniqueness (pruned by age).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE quality_batches (
            batch_id            text NOT NULL,
            source              text NOT NULL,
            received_at         timestamptz NOT NULL,
            checked_at          timestamptz NOT NULL,
            records             integer NOT NULL,
            expected_records    integer,
            status              text NOT NULL CHECK (status IN ('ACCEPTED', 'REJECTED')),
            reject_reason       text,
            completeness        double precision,
            consistency         double precision,
            accuracy            double precision,
            timeliness          double precision,
            overall             double precision,
            level               text,
            violation_count     integer NOT NULL DEFAULT 0,
            missing_values      integer NOT NULL DEFAULT 0,
            type_mismatches     integer NOT NULL DEFAULT 0,
            out_of_range        integer NOT NULL DEFAULT 0,
            duplicates          integer NOT NULL DEFAULT 0,
            stale_records       integer NOT NULL DEFAULT 0,
            metadata            jsonb NOT NULL DEFAULT '{}',
            field_stats         jsonb NOT NULL DEFAULT '{}',
            processing_seconds  double precision,
            records_per_second  double precision,
            mb_per_second       double precision,
            peak_memory_bytes   bigint,
            input_bytes         bigint,
            counts              jsonb NOT NULL DEFAULT '{}',
            rules_version       integer,
            PRIMARY KEY (batch_id, received_at)
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE quality_batches_default PARTITION OF quality_batches DEFAULT;
        CREATE INDEX quality_batches_source_idx ON quality_batches (source, received_at);
        CREATE INDEX quality_batches_id_idx ON quality_batches (batch_id);

        CREATE TABLE quality_violations (
            batch_id     text NOT NULL,
            received_at  timestamptz NOT NULL,
            source       text NOT NULL,
            rule         text NOT NULL,
            kind         text NOT NULL,
            field        text,
            severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
            count        integer NOT NULL,
            sample_ids   text[] NOT NULL DEFAULT '{}',
            message      text NOT NULL DEFAULT '',
            PRIMARY KEY (batch_id, received_at, rule)
        ) PARTITION BY RANGE (received_at);
        CREATE TABLE quality_violations_default PARTITION OF quality_violations DEFAULT;
        CREATE INDEX quality_violations_source_idx
            ON quality_violations (source, received_at, rule);

        CREATE TABLE quality_rules (
            source      text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
            version     integer NOT NULL CHECK (version >= 1),
            yaml        text NOT NULL,
            rules       jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            created_by  text,
            PRIMARY KEY (source, version)
        );

        CREATE TABLE quality_schemas (
            source      text PRIMARY KEY,
            fields      jsonb NOT NULL,
            batch_id    text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE quality_seen_ids (
            source       text NOT NULL,
            id           text NOT NULL,
            id_hash      bigint GENERATED ALWAYS AS (hashtextextended(id, 0)) STORED,
            batch_id     text NOT NULL,
            received_at  timestamptz NOT NULL
        );
        CREATE INDEX quality_seen_ids_lookup_idx ON quality_seen_ids (source, id_hash);
        CREATE INDEX quality_seen_ids_age_idx ON quality_seen_ids (source, received_at);
        """
    )


def downgrade(schema: str) -> None:
    op.execute(
        "DROP TABLE IF EXISTS quality_seen_ids, quality_schemas, quality_rules, "
        "quality_violations, quality_batches"
    )
