"""TextArray through the real server: what is sent is what the server reads."""

from __future__ import annotations

import psycopg
import pytest

from pgwarden.db.arrays import TextArray

CASES = [
    [],
    [None],
    [None, None, None],
    ["", ""],
    ["a", None, "é😀", "", '{x,"y"}', "NULL", "\\"],
    [f"user-{i}" for i in range(5000)],
]


@pytest.mark.parametrize("values", CASES, ids=lambda v: f"{len(v)} values")
def test_round_trip(conn: psycopg.Connection, values: list[str | None]) -> None:
    row = conn.execute(
        "SELECT %(a)b::text[], cardinality(%(a)b::text[])", {"a": TextArray(values)}
    ).fetchone()
    assert row is not None
    assert row[0] == values
    assert row[1] == len(values)


def test_unnest_keeps_order_and_nulls(conn: psycopg.Connection) -> None:
    values = ["b", None, "a"]
    rows = conn.execute(
        "SELECT v, n FROM unnest(%(a)b::text[]) WITH ORDINALITY AS t(v, n)",
        {"a": TextArray(values)},
    ).fetchall()
    assert rows == [("b", 1), (None, 2), ("a", 3)]


def test_nul_is_refused_by_the_server(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.DataError):
        conn.execute("SELECT %(a)b::text[]", {"a": TextArray(["ok", "a\x00b"])})
    conn.rollback()
