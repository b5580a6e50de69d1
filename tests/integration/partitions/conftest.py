import pytest


@pytest.fixture
def fast(services):
    """Short lock timeouts and pauses so lock tests stay fast."""
    services.config.set("partitions.lock_timeout", 0.2)
    services.config.set("partitions.lock_retries", 1)
    services.config.set("partitions.retry_backoff", 0.01)
    return services


def bounds_of(conn, schema, table):
    """{child name: bound expression} from the catalog (session time zone UTC)."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s",
        [schema, table],
    ).fetchall()
    conn.commit()
    return dict(rows)
