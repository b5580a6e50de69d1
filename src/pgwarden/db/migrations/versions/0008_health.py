"""health: targets, snapshots, statement samples

Revision ID: 0008
Revises: 0007

health_snapshots and health_statements are range-partitioned on taken_at
with a DEFAULT partition; pgwarden's own partition policies (daily) create
the dated partitions and drop them after their retention.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        """
        CREATE TABLE health_targets (
            name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
            dsn         text NOT NULL,
            enabled     boolean NOT NULL DEFAULT true,
            created_at  timestamptz NOT NULL DEFAULT now(),
            created_by  text
        );

        CREATE TABLE health_snapshots (
            target            text NOT NULL,
            taken_at          timestamptz NOT NULL,
            up                boolean NOT NULL,
            version_num       integer,
            error             text,
            duration_seconds  double precision NOT NULL DEFAULT 0,
            data              jsonb NOT NULL,
            PRIMARY KEY (target, taken_at)
        ) PARTITION BY RANGE (taken_at);
        CREATE TABLE health_snapshots_default PARTITION OF health_snapshots DEFAULT;

        CREATE TABLE health_statements (
            target           text NOT NULL,
            taken_at         timestamptz NOT NULL,
            queryid          bigint NOT NULL,
            userid           bigint NOT NULL,
            dbid             bigint NOT NULL,
            toplevel         boolean NOT NULL,
            usename          text,
            datname          text,
            calls            bigint NOT NULL,
            total_exec_ms    double precision NOT NULL,
            rows             bigint NOT NULL,
            shared_blks_hit  bigint,
            shared_blks_read bigint,
            block_read_ms    double precision,
            block_write_ms   double precision,
            stats_reset      double precision NOT NULL DEFAULT 0,
            query            text,
            PRIMARY KEY (target, taken_at, queryid, userid, dbid, toplevel)
        ) PARTITION BY RANGE (taken_at);
        CREATE TABLE health_statements_default PARTITION OF health_statements DEFAULT;
        """
    )
    # pg_stat_statements feeds the slow-query views. Create it where the server has it
    # preloaded and we are allowed to (the embedded server; a superuser DSN); elsewhere
    # `pgwarden health check` says how. It is left in place on downgrade: others may use it.
    bind = op.get_bind()
    can = bind.execute(
        sa.text(
            "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            " AND EXISTS (SELECT 1 FROM pg_available_extensions"
            "             WHERE name = 'pg_stat_statements')"
            " AND current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'"
        )
    ).scalar()
    if can:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public")


def downgrade(schema: str) -> None:
    op.execute("DROP TABLE IF EXISTS health_statements, health_snapshots, health_targets")
