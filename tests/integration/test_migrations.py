import psycopg

from pgwarden.db import migrate

SCHEMA = "pgwarden"


def tables(conninfo: str, schema: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            [schema],
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_to_base_and_upgrade_again(empty_conninfo):
    assert migrate.current(empty_conninfo, SCHEMA) is None
    assert migrate.upgrade(empty_conninfo, SCHEMA) == migrate.head()
    created = tables(empty_conninfo, SCHEMA)
    assert {"system_config", "config_history", "workers", "procrastinate_jobs"} <= created

    assert migrate.downgrade(empty_conninfo, SCHEMA, "base") is None
    with psycopg.connect(empty_conninfo) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [SCHEMA]
        ).fetchone()
        types = conn.execute(
            "SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%%'"
        ).fetchone()
    assert left == (0,) and types == (0,)

    assert migrate.upgrade(empty_conninfo, SCHEMA) == migrate.head()
    assert tables(empty_conninfo, SCHEMA) == created


def test_each_step_down_and_up_works(empty_conninfo):
    revisions = [rev for rev, _, _ in migrate.history()]
    migrate.upgrade(empty_conninfo, SCHEMA)
    for rev in reversed(revisions[:-1]):
        assert migrate.downgrade(empty_conninfo, SCHEMA, rev) == rev
    assert migrate.upgrade(empty_conninfo, SCHEMA) == revisions[-1]


def test_a_schema_name_with_spaces_and_capitals(empty_conninfo):
    odd = "Warden Space"
    migrate.upgrade(empty_conninfo, odd)
    assert "system_config" in tables(empty_conninfo, odd)
    assert migrate.pending(empty_conninfo, odd, "head") == []
    migrate.downgrade(empty_conninfo, odd, "base")
    assert tables(empty_conninfo, odd) == set()
