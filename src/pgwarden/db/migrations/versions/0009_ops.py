"""ops: runs, backups, retention and masking policies, size history

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE ops_runs (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            op           text NOT NULL CHECK (op ~ '^[a-z_.]{1,40}$'),
            target       text NOT NULL,
            started_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            status       text NOT NULL DEFAULT 'RUNNING'
                         CHECK (status IN ('RUNNING', 'OK', 'FAILED', 'SKIPPED', 'PARTIAL')),
            dry_run      boolean NOT NULL DEFAULT false,
            who          text,
            params       jsonb NOT NULL DEFAULT '{}',
            progress     jsonb NOT NULL DEFAULT '{}',
            result       jsonb NOT NULL DEFAULT '{}',
            error        text
        );
        CREATE INDEX ops_runs_op_idx ON ops_runs (op, target, started_at DESC);
        CREATE INDEX ops_runs_running_idx ON ops_runs (op, target) WHERE status = 'RUNNING';

        CREATE TABLE ops_backups (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id          bigint REFERENCES ops_runs (id) ON DELETE SET NULL,
            target          text NOT NULL,
            started_at      timestamptz NOT NULL DEFAULT now(),
            finished_at     timestamptz,
            status          text NOT NULL DEFAULT 'RUNNING'
                            CHECK (status IN ('RUNNING', 'COMPLETE', 'FAILED', 'DELETED')),
            format          text NOT NULL CHECK (format IN ('custom', 'directory')),
            path            text NOT NULL,
            manifest_path   text,
            bytes           bigint,
            sha256          text,
            toc_entries     integer,
            server_version  text,
            client_version  text,
            scope           jsonb NOT NULL DEFAULT '{}',
            manifest        jsonb,
            verified_at     timestamptz,
            verify_ok       boolean,
            verify_seconds  double precision,
            verify_error    text,
            deleted_at      timestamptz,
            delete_reason   text
        );
        CREATE INDEX ops_backups_target_idx ON ops_backups (target, started_at DESC);

        CREATE TABLE ops_policies (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind            text NOT NULL CHECK (kind IN ('retention', 'mask')),
            table_schema    text NOT NULL,
            table_name      text NOT NULL,
            column_name     text NOT NULL,
            older_than      interval,
            expires         boolean NOT NULL DEFAULT false,
            age_column      text,
            method          text CHECK (method IN ('hash', 'null', 'redact', 'ip-prefix')),
            enabled         boolean NOT NULL DEFAULT true,
            source          text NOT NULL DEFAULT 'cli',
            created_at      timestamptz NOT NULL DEFAULT now(),
            created_by      text,
            -- an unfinished run: its fixed cutoff, the next page, rows done
            state           jsonb,
            last_run_id     bigint REFERENCES ops_runs (id) ON DELETE SET NULL,
            CHECK (kind <> 'mask' OR (method IS NOT NULL AND older_than IS NOT NULL)),
            CHECK (kind <> 'retention' OR expires OR older_than IS NOT NULL),
            UNIQUE (kind, table_schema, table_name, column_name)
        );

        CREATE TABLE ops_size_history (
            day        date NOT NULL,
            object     text NOT NULL,
            kind       text NOT NULL CHECK (kind IN ('database', 'table', 'partition')),
            bytes      bigint NOT NULL,
            est_rows   bigint,
            PRIMARY KEY (day, kind, object)
        );
        """
    )


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS ops_size_history, ops_policies, ops_backups, ops_runs")
