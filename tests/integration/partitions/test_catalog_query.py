"""The catalog query on a real server: how it reads the catalog, and what its rows say."""

from datetime import UTC, datetime

from psycopg import sql

from pgwarden.partitions import catalog, store
from pgwarden.partitions.policy import TableName


def _tables(services, conn) -> list:
    """public.daily (two days, a default, one unbounded below), public.plain (not
    partitioned) and public.gone (no such table), each with a policy; the policies."""
    for t in ("daily", "plain", "gone"):
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)"
            ).format(sql.Identifier("public", t))
        )
    for name, lo, hi in (("d1", "2024-01-01", "2024-01-02"), ("d2", "2024-01-02", "2024-01-03")):
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} PARTITION OF public.daily FOR VALUES FROM ({}) TO ({})"
            ).format(sql.Identifier("public", name), sql.Literal(lo), sql.Literal(hi))
        )
    conn.execute(
        "CREATE TABLE public.daily_old PARTITION OF public.daily "
        "FOR VALUES FROM (MINVALUE) TO ('2024-01-01')"
    )
    conn.execute("CREATE TABLE public.daily_default PARTITION OF public.daily DEFAULT")
    conn.commit()
    for t in ("public.daily", "public.plain", "public.gone"):
        store.add_policy(services.db, t, interval="daily", premake=1)
    # what a policy's table may become after the policy was made
    conn.execute("DROP TABLE public.gone")
    conn.execute("DROP TABLE public.plain")
    conn.execute("CREATE TABLE public.plain (ts timestamptz)")
    conn.commit()
    return store.list_policies(services.db)


def _plan_nodes(plan: dict) -> list[dict]:
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(_plan_nodes(child))
    return out


def test_the_catalog_is_read_per_wanted_parent_never_scanned_whole(services, conn):
    # a hundred other relations: a plan that hashes pg_class or pg_attribute reads every
    # one of them (a fresh connection's millisecond, and more on a big database)
    for i in range(100):
        conn.execute(sql.SQL("CREATE TABLE {} (a int, b text)").format(sql.Identifier(f"o{i}")))
    policies = _tables(services, conn)
    q = store.queries(services.db)
    explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + q["catalog"]
    wanted = {
        "schemas": [p.table.schema for p in policies],
        "names": [p.table.name for p in policies],
        "now": None,
    }
    for params in (catalog.ALL_MANAGED, catalog.quiet(datetime.now(UTC)), wanted):
        plan = conn.execute(explain, params).fetchone()[0][0]["Plan"]
        scanned = {
            n.get("Relation Name") for n in _plan_nodes(plan) if n["Node Type"] == "Seq Scan"
        }
        assert not scanned & {"pg_class", "pg_attribute"}, scanned
        # and pg_partitioned_table is read once, not once per parent
        loops = [
            n["Actual Loops"]
            for n in _plan_nodes(plan)
            if n.get("Relation Name") == "pg_partitioned_table"
        ]
        assert loops and max(loops) == 1, loops
    conn.rollback()


def test_binary_and_text_rows_give_the_same_states(services, conn):
    # the run asks for binary rows: every column must come back as the same Python value
    policies = _tables(services, conn)
    q = store.queries(services.db)
    text = conn.execute(q["catalog"], catalog.ALL_MANAGED).fetchall()
    binary = conn.execute(q["catalog"], catalog.ALL_MANAGED, binary=True).fetchall()
    conn.rollback()
    assert sorted(binary) == sorted(text)
    states = {s.policy.table.name: s for s in catalog.states_from_rows(policies, binary)}
    assert not states["gone"].exists
    assert states["plain"].exists and not states["plain"].range_partitioned
    daily = states["daily"]
    assert daily.key_column == "ts" and daily.key_type == "timestamp with time zone"
    assert [p.name for p in daily.partitions] == ["d1", "d2", "daily_default", "daily_old"]
    assert [p.name for p in daily.partitions if p.managed] == ["d1", "d2"]
    assert daily.default is not None and daily.default.name == "daily_default"
    old = next(p for p in daily.partitions if p.name == "daily_old")
    assert old.lower is None and old.upper is not None
    assert daily.policy.table == TableName("public", "daily")
