"""models: registry, dependency graph, cycles, runs, outputs, metrics

Revision ID: 0004
Revises: 0003

The run outputs are range-partitioned by month on the cycle time and start
with a DEFAULT partition only, so a write never fails before the partitions
feature has created the monthly partitions (it rescues rows from the default).
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE detection_models (
            model_id     text PRIMARY KEY CHECK (char_length(model_id) BETWEEN 1 AND 64),
            description  text NOT NULL DEFAULT '',
            is_enabled   boolean NOT NULL DEFAULT true,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE detection_model_versions (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            model_id      text NOT NULL REFERENCES detection_models (model_id),
            version       text NOT NULL CHECK (char_length(version) BETWEEN 1 AND 64),
            role          text NOT NULL CHECK (role IN ('PRIMARY', 'SHADOW', 'CHALLENGER')),
            status        text NOT NULL DEFAULT 'DRAFT'
                          CHECK (status IN ('DRAFT', 'ACTIVE', 'ARCHIVED')),
            params        jsonb NOT NULL DEFAULT '{}'::jsonb,
            params_hash   text NOT NULL,
            entrypoint    text NOT NULL
                          CHECK (entrypoint ~ '^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$'),
            created_at    timestamptz NOT NULL DEFAULT now(),
            activated_at  timestamptz,
            archived_at   timestamptz,
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (model_id, version)
        );
        -- At most one ACTIVE PRIMARY per model, whatever writes the row.
        CREATE UNIQUE INDEX detection_model_versions_one_primary
            ON detection_model_versions (model_id)
            WHERE role = 'PRIMARY' AND status = 'ACTIVE';
        CREATE INDEX detection_model_versions_active
            ON detection_model_versions (model_id) WHERE status = 'ACTIVE';

        -- Params are immutable once a version leaves DRAFT: a change is a new version.
        -- A constraint cannot compare OLD and NEW, so this one guard is a trigger.
        CREATE FUNCTION detection_model_versions_freeze_params() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status <> 'DRAFT'
               AND (NEW.params IS DISTINCT FROM OLD.params
                    OR NEW.params_hash IS DISTINCT FROM OLD.params_hash
                    OR NEW.entrypoint IS DISTINCT FROM OLD.entrypoint) THEN
                RAISE EXCEPTION 'params of model % version % are immutable once %',
                    OLD.model_id, OLD.version, OLD.status
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER detection_model_versions_freeze_params
            BEFORE UPDATE ON detection_model_versions
            FOR EACH ROW EXECUTE FUNCTION detection_model_versions_freeze_params();

        CREATE TABLE detection_model_dependencies (
            model_id    text NOT NULL REFERENCES detection_models (model_id),
            depends_on  text NOT NULL REFERENCES detection_models (model_id),
            input_key   text NOT NULL CHECK (char_length(input_key) BETWEEN 1 AND 64),
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (model_id, input_key),
            CHECK (model_id <> depends_on)
        );
        CREATE INDEX detection_model_dependencies_upstream
            ON detection_model_dependencies (depends_on);

        CREATE TABLE registry_events (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at           timestamptz NOT NULL DEFAULT now(),
            actor        text NOT NULL,
            action       text NOT NULL,
            model_id     text NOT NULL,
            version_id   bigint,
            version      text,
            from_role    text,
            from_status  text,
            to_role      text,
            to_status    text,
            reason       text,
            details      jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX registry_events_model ON registry_events (model_id, at DESC);

        CREATE TABLE detection_cycles (
            cycle_id       text PRIMARY KEY CHECK (char_length(cycle_id) BETWEEN 1 AND 200),
            cycle_time     timestamptz NOT NULL,
            started_at     timestamptz NOT NULL DEFAULT now(),
            finished_at    timestamptz,
            duration_ms    double precision,
            fingerprint    text,
            status         text NOT NULL DEFAULT 'RUNNING'
                           CHECK (status IN ('RUNNING', 'OK', 'PARTIAL', 'FAILED')),
            versions_ok       integer NOT NULL DEFAULT 0,
            versions_failed   integer NOT NULL DEFAULT 0,
            versions_skipped  integer NOT NULL DEFAULT 0,
            versions_timeout  integer NOT NULL DEFAULT 0,
            output_rows       bigint NOT NULL DEFAULT 0,
            plan           jsonb NOT NULL DEFAULT '{}'::jsonb,
            error          text
        );
        CREATE INDEX detection_cycles_time ON detection_cycles (cycle_time DESC);

        CREATE TABLE detection_model_runs (
            id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            cycle_id              text NOT NULL REFERENCES detection_cycles (cycle_id)
                                  ON DELETE CASCADE,
            cycle_time            timestamptz NOT NULL,
            model_id              text NOT NULL,
            version_id            bigint NOT NULL REFERENCES detection_model_versions (id),
            version               text NOT NULL,
            role                  text NOT NULL,
            status                text NOT NULL
                                  CHECK (status IN ('OK', 'FAILED', 'SKIPPED', 'TIMEOUT')),
            reason                text,
            started_at            timestamptz NOT NULL DEFAULT now(),
            duration_ms           double precision NOT NULL DEFAULT 0,
            error_class           text,
            error_message         text,
            output_count          integer NOT NULL DEFAULT 0,
            metric_count          integer NOT NULL DEFAULT 0,
            dropped_metric_count  integer NOT NULL DEFAULT 0,
            UNIQUE (cycle_id, version_id)
        );
        CREATE INDEX detection_model_runs_model ON detection_model_runs (model_id, cycle_time);

        CREATE TABLE detection_model_run_outputs (
            cycle_started_at  timestamptz NOT NULL,
            cycle_id          text NOT NULL,
            model_id          text NOT NULL,
            version_id        bigint NOT NULL,
            role              text NOT NULL,
            ordinal           integer NOT NULL,
            entity_key        text CHECK (char_length(entity_key) BETWEEN 1 AND 256),
            score             double precision,
            decision          text CHECK (char_length(decision) <= 64),
            payload           jsonb
        ) PARTITION BY RANGE (cycle_started_at);
        CREATE TABLE detection_model_run_outputs_default
            PARTITION OF detection_model_run_outputs DEFAULT;
        CREATE INDEX detection_model_run_outputs_model
            ON detection_model_run_outputs (model_id, cycle_started_at);
        CREATE INDEX detection_model_run_outputs_cycle
            ON detection_model_run_outputs (cycle_id, version_id);

        CREATE TABLE detection_model_metrics (
            run_id      bigint NOT NULL REFERENCES detection_model_runs (id) ON DELETE CASCADE,
            cycle_id    text NOT NULL,
            version_id  bigint NOT NULL,
            metric_key  text NOT NULL CHECK (char_length(metric_key) BETWEEN 1 AND 64),
            value       double precision NOT NULL,
            PRIMARY KEY (run_id, metric_key)
        );
        """
    )


def downgrade(schema: str) -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS detection_model_metrics, detection_model_run_outputs,
            detection_model_runs, detection_cycles, registry_events,
            detection_model_dependencies, detection_model_versions, detection_models;
        DROP FUNCTION IF EXISTS detection_model_versions_freeze_params();
        """
    )
