"""The cross-batch duplicate-id lookup stays one index probe per id as quality_seen_ids grows.

psycopg prepares a statement after five executions, and PostgreSQL may then
keep a generic plan made while the table was empty and unanalyzed. The old
join form got a plan that scanned every row of the source for each id (issue
14: 17 -> 75 ms per batch, then hundreds of ms). Here the plans are read with
EXPLAIN on the real server, generic and custom, before and after ANALYZE.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.quality.store import queries

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RETENTION = 24.0 * 30  # hours: nothing is pruned while the table grows

LOOKUPS = {
    "seen_in_batches": ({"ids": "$1", "source": "$2", "n": "$3"}, "text[], text, int"),
    "seen_since": ({"ids": "$1", "source": "$2", "since": "$3"}, "text[], text, timestamptz"),
}


def scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every node that reads quality_seen_ids."""
    found = []
    if node.get("Relation Name") == "quality_seen_ids" or "quality_seen_ids" in str(
        node.get("Index Name", "")
    ):
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", ()):
        found.extend(scans(child))
    return found


def grow(conn: psycopg.Connection, schema: str, start: int, stop: int) -> None:
    """Batches start..stop-1 of 500 ids for each of four sources: accepted batch rows,
    and their ids inserted as `store_result` inserts them."""
    for n in range(start, stop):
        for source in ("crm", "erp", "web", "iot"):
            batch_id, at = f"{source}-b{n}", NOW - timedelta(minutes=stop - n)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (batch_id, source, received_at, checked_at, records, status)"
                    " VALUES (%s, %s, %s, %s, 500, 'ACCEPTED')"
                ).format(sql.Identifier(schema, "quality_batches")),
                [batch_id, source, at, at],
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (source, id, batch_id, received_at)"
                    " SELECT %s, i, %s, %s FROM unnest(%s::text[]) AS i"
                ).format(sql.Identifier(schema, "quality_seen_ids")),
                [source, batch_id, at, [f"{source}-{n}-{i}" for i in range(500)]],
            )
    conn.commit()


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_lookup_stays_index_driven_as_the_table_grows(conn, database, name):
    schema = database.schema
    params, types = LOOKUPS[name]
    text = queries(schema)[name].as_string(conn)
    for key, placeholder in params.items():
        text = text.replace(f"%({key})s", placeholder).replace(f"%({key})b", placeholder)
    conn.autocommit = True
    conn.execute(f"PREPARE lookup ({types}) AS {text}")
    cur = psycopg.ClientCursor(conn)

    def args(n: int) -> list[Any]:
        # half of the ids were stored by batch n - 1, half are new
        ids = [f"crm-{n - 1}-{i}" for i in range(250)] + [f"new-{n}-{i}" for i in range(250)]
        window: Any = 10 if name == "seen_in_batches" else NOW - timedelta(days=1)
        return [ids, "crm", window]

    execute = "EXECUTE lookup (%s::text[], %s::text, %s)"
    for _ in range(6):  # what makes psycopg prepare, and the server cache a plan, on empty
        assert cur.execute(execute, args(0)).fetchall() == []

    size = 0
    for target in (4, 25, 60):  # batches per source: 8,000 -> 120,000 rows in all
        grow(conn, schema, size, target)
        size = target
        for analyzed in (False, True):
            if analyzed:
                conn.execute(f"ANALYZE {schema}.quality_seen_ids")
            for mode in ("force_generic_plan", "force_custom_plan"):
                conn.execute(f"SET plan_cache_mode = {mode}")
                plan = cur.execute(f"EXPLAIN (FORMAT JSON) {execute}", args(size)).fetchone()
                assert plan is not None
                doc = plan[0] if isinstance(plan[0], list) else json.loads(plan[0])
                found = scans(doc[0]["Plan"])
                assert found == [("Index Scan", "quality_seen_ids_lookup_idx")], (
                    f"{name} at {size * 2000} rows ({mode}, analyzed={analyzed}): {found}"
                )
                hits = sorted(r[0] for r in cur.execute(execute, args(size)).fetchall())
                assert hits == sorted(f"crm-{size - 1}-{i}" for i in range(250))
    conn.execute("RESET plan_cache_mode")
    conn.execute("DEALLOCATE lookup")
