"""alerts: anomalies, alerts, deliveries, daily quality state

Revision ID: 0006
Revises: 0005

- quality_evaluations: one row per batch the anomaly side has handled (the
  guard that makes `after_batch` idempotent, and the tests' summary);
- quality_anomalies: the anomalies found, with their explanation;
- alerts: one open alert per (source, rule) at most (a partial unique index);
- alert_deliveries: the outbox; a row stays pending until a channel accepts it;
- quality_daily: per-source, per-day state merged from each batch;
- quality_reports: the stored daily reports.
None of these is partitioned: they grow by one row per batch at most
(evaluations) or far less, and are pruned by day.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE quality_evaluations (
            batch_id     text NOT NULL PRIMARY KEY,
            source       text NOT NULL,
            received_at  timestamptz NOT NULL,
            evaluated_at timestamptz NOT NULL DEFAULT now(),
            tested       integer NOT NULL DEFAULT 0,
            insufficient integer NOT NULL DEFAULT 0,
            anomalies    integer NOT NULL DEFAULT 0,
            summary      jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX quality_evaluations_source_idx ON quality_evaluations (source, received_at);
        CREATE TABLE quality_anomalies (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            batch_id     text NOT NULL,
            source       text NOT NULL,
            received_at  timestamptz NOT NULL,
            metric       text NOT NULL,
            field        text,
            observed     double precision,
            expected     double precision,
            low          double precision,
            high         double precision,
            direction    text,
            p_value      double precision NOT NULL,
            q_value      double precision NOT NULL,
            score        double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
            method       text NOT NULL,
            details      jsonb NOT NULL DEFAULT '{}',
            created_at   timestamptz NOT NULL DEFAULT now(),
            UNIQUE (batch_id, metric, field)
        );
        CREATE INDEX quality_anomalies_source_idx ON quality_anomalies (source, received_at);
        CREATE TABLE alerts (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source          text NOT NULL,
            rule            text NOT NULL,
            kind            text NOT NULL CHECK (kind IN ('issue', 'anomaly', 'score', 'test')),
            severity        text NOT NULL CHECK (severity IN ('medium', 'high', 'critical')),
            status          text NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'acknowledged', 'resolved')),
            title           text NOT NULL,
            explanation     jsonb NOT NULL DEFAULT '{}',
            batch_id        text,
            occurrences     integer NOT NULL DEFAULT 1,
            clear_streak    integer NOT NULL DEFAULT 0,
            reopened        integer NOT NULL DEFAULT 0,
            first_seen      timestamptz NOT NULL,
            last_seen       timestamptz NOT NULL,
            notified_at     timestamptz,
            acknowledged_by text,
            acknowledged_at timestamptz,
            resolved_by     text,
            resolved_at     timestamptz
        );
        CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (source, rule)
            WHERE status <> 'resolved';
        CREATE INDEX alerts_status_idx ON alerts (status, severity);
        CREATE INDEX alerts_key_idx ON alerts (source, rule, resolved_at DESC);
        CREATE TABLE alert_deliveries (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alert_id        bigint REFERENCES alerts (id) ON DELETE CASCADE,
            event           text NOT NULL
                            CHECK (event IN ('opened', 'escalated', 'resolved', 'test')),
            channel         text NOT NULL,
            payload         jsonb NOT NULL,
            status          text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error      text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            delivered_at    timestamptz
        );
        CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
            WHERE status = 'pending';
        CREATE TABLE quality_daily (
            source             text NOT NULL,
            day                date NOT NULL,
            batches            integer NOT NULL DEFAULT 0,
            accepted           integer NOT NULL DEFAULT 0,
            rejected           integer NOT NULL DEFAULT 0,
            records            bigint NOT NULL DEFAULT 0,
            score_sum          double precision NOT NULL DEFAULT 0,
            scored             integer NOT NULL DEFAULT 0,
            score_min          double precision,
            processing_seconds double precision NOT NULL DEFAULT 0,
            peak_records_per_second double precision NOT NULL DEFAULT 0,
            issues             integer NOT NULL DEFAULT 0,
            violation_count    bigint NOT NULL DEFAULT 0,
            anomalies          integer NOT NULL DEFAULT 0,
            alerts_opened      integer NOT NULL DEFAULT 0,
            rule_failures      jsonb NOT NULL DEFAULT '{}',
            levels             jsonb NOT NULL DEFAULT '{}',
            updated_at         timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source, day)
        );
        CREATE TABLE quality_reports (
            day          date PRIMARY KEY,
            generated_at timestamptz NOT NULL DEFAULT now(),
            report       jsonb NOT NULL
        );
        """
    )


def downgrade(schema: str) -> None:
    op.execute(
        "DROP TABLE IF EXISTS quality_reports, quality_daily, alert_deliveries, alerts, "
        "quality_anomalies, quality_evaluations"
    )
