"""Conninfo helpers: mask passwords, name the target, add our session options."""

from __future__ import annotations

import psycopg.conninfo


def mask_conninfo(conninfo: str) -> str:
    """The same conninfo with any password replaced by ********."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" in parts:
        parts["password"] = "********"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})


def describe_target(conninfo: str) -> str:
    """'host:port/dbname' for messages; never includes the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    import os

    host = parts.get("host") or os.environ.get("PGHOST") or "localhost"
    port = parts.get("port") or os.environ.get("PGPORT") or "5432"
    db = parts.get("dbname") or os.environ.get("PGDATABASE") or ""
    return f"{host}:{port}/{db}" if db else f"{host}:{port}"


def with_options(conninfo: str, **extra: object) -> str:
    return psycopg.conninfo.make_conninfo(conninfo, **{k: str(v) for k, v in extra.items()})


def session_options(schema: str) -> str:
    """libpq `options` that put our schema first and keep times in UTC.

    Unqualified names in migrations and procrastinate's own SQL resolve in
    our schema this way; backslash-escaping keeps spaces in schema names.
    """
    quoted = '"' + schema.replace('"', '""') + '"'
    escaped = quoted.replace("\\", "\\\\").replace(" ", "\\ ")
    return f"-c search_path={escaped},public -c timezone=UTC"
