"""Alembic environment: runs migrations on a psycopg connection given in attributes."""

from __future__ import annotations

import psycopg
from alembic import context
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

cfg = context.config
conninfo: str = cfg.attributes["conninfo"]
schema: str = cfg.attributes["schema"]


def run() -> None:
    # The schema must exist before Alembic can create its version table in it.
    with psycopg.connect(conninfo, autocommit=True) as raw:
        raw.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                version_table_schema=schema,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations(schema=schema)
    finally:
        engine.dispose()


run()
