"""jobs: procrastinate's schema, inside ours

Revision ID: 0002
Revises: 0001
"""

from importlib import resources
from typing import Any

import psycopg
from alembic import op
from psycopg import sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _raw(bind: Any) -> psycopg.Connection[Any]:
    """The psycopg connection under SQLAlchemy: runs SQL text with no %-escaping."""
    return bind.connection.driver_connection


def upgrade(schema: str) -> None:
    # procrastinate's SQL names its objects unqualified; our search_path puts
    # them in our schema.
    text = resources.files("procrastinate.sql").joinpath("schema.sql").read_text()
    _raw(op.get_bind()).execute(text)


# Each query lists procrastinate's objects in our schema: (schema, name[, arguments]).
DROP_QUERIES = {
    "TABLE": """
        SELECT n.nspname, c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE 'procrastinate%%'""",
    "FUNCTION": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s AND p.proname LIKE 'procrastinate%%'""",
    "TYPE": """
        SELECT n.nspname, t.typname FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE n.nspname = %s AND t.typname LIKE 'procrastinate%%'
          AND (t.typtype = 'e' OR (t.typtype = 'c' AND c.relkind = 'c'))""",
}


def drop_statement(kind: str, row: tuple[str, ...]) -> sql.Composed:
    """DROP <kind> IF EXISTS schema.name[(arguments)] CASCADE, names as identifiers."""
    target: sql.Composable = sql.Identifier(row[0], row[1])
    if kind == "FUNCTION":
        # the argument list is the server's own rendering (pg_get_function_identity_arguments)
        target = sql.SQL("{}({})").format(target, sql.SQL(row[2]))
    return sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(kind), target)


def downgrade(schema: str) -> None:
    raw = _raw(op.get_bind())
    for kind, query in DROP_QUERIES.items():
        for row in raw.execute(query, [schema]).fetchall():
            raw.execute(drop_statement(kind, row))
