"""read_history keeps the reference points of earlier evaluations: same row, same object
(its summaries parsed once), a row stored again read again, a bounded cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pgwarden.quality.anomaly.model import BatchPoint
from pgwarden.quality.anomaly.store import ReferenceCache, read_history
from tests.integration.alerts.helpers import SCHEMA, store_history

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=30)


def flag(conn, batch_id: str, *metrics: tuple[str, str | None]) -> None:
    """Store anomalies (metric, field) for a stored batch, as its evaluation would."""
    for metric, field in metrics:
        conn.execute(
            "INSERT INTO quality_anomalies (batch_id, source, received_at, metric, field,"
            " observed, p_value, q_value, score, method) SELECT batch_id, source, received_at,"
            " %s, %s, 1, 0.001, 0.002, 0.9, 'test' FROM quality_batches WHERE batch_id = %s",
            [metric, field, batch_id],
        )


def read(conn, cache, source="src"):
    return read_history(
        conn, SCHEMA, source, "now", UNTIL, days=28, reference_batches=10, cache=cache
    )


def test_a_reference_point_is_read_and_parsed_once_and_a_stored_again_row_is_read_again(conn):
    conn.autocommit = True
    store_history(conn, "src", T0, 30)
    cache = ReferenceCache()
    first = read(conn, cache)
    assert [p.batch_id for p in first] == [f"h{i}" for i in range(30)]
    assert all(p.field_stats for p in first[20:]) and not any(p.field_stats for p in first[:20])
    first[29].summary("value")  # what an evaluation leaves behind
    second = read(conn, cache)
    assert second == first
    assert all(a is b for a, b in zip(first[20:], second[20:], strict=True))
    assert "value" in second[29]._summaries  # parsed once, kept

    # the same batch id stored again (other content): read again, not taken from the cache
    conn.execute("DELETE FROM quality_batches WHERE batch_id = 'h29'")
    conn.execute(
        "INSERT INTO quality_batches (batch_id, source, received_at, checked_at, records,"
        " status, overall, missing_values, type_mismatches, field_stats)"
        " VALUES ('h29', 'src', %s, %s, %s, 'ACCEPTED', 0.95, 3, 0, %s)",
        [first[29].received_at, first[29].received_at, first[29].records,
         json.dumps({"value": {"nulls": 99}})],
    )  # fmt: skip
    third = read(conn, cache)
    assert third[29] is not first[29] and third[29].field_stats == {"value": {"nulls": 99}}
    assert all(a is b for a, b in zip(first[20:29], third[20:29], strict=True))
    # and without a cache, the same history
    assert read(conn, None) == third


def test_the_cache_keeps_at_most_its_points_dropping_the_source_used_least_recently():
    cache = ReferenceCache(max_points=15)
    point = BatchPoint(batch_id="b", received_at=T0, records=1)
    key_a, key_b = ("h", 5432, "db", "s", "a"), ("h", 5432, "db", "s", "b")
    cache.keep(key_a, {f"a{i}": ("1", point) for i in range(10)})
    cache.keep(key_b, {f"b{i}": ("1", point) for i in range(10)})
    assert cache.get(key_a) == {} and len(cache.get(key_b)) == 10
    cache.keep(key_b, {f"b{i}": ("1", point) for i in range(20)})  # more than it may hold
    assert cache.get(key_b) == {}


def test_a_points_flagged_metrics_are_its_stored_anomalies_and_none_is_empty(conn):
    conn.autocommit = True
    store_history(conn, "src", T0, 5)
    flag(conn, "h3", ("volume", None), ("drift", "value"))
    points = read(conn, None)
    assert points[3].flagged == frozenset({"volume", "drift:value"})
    assert all(p.flagged == frozenset() for i, p in enumerate(points) if i != 3)


def test_a_points_field_count_is_its_stored_count_or_else_its_stats_keys(conn):
    # rows stored before the field_count column (the helper writes none) count their keys
    conn.autocommit = True
    store_history(conn, "src", T0, 3)
    conn.execute(
        "UPDATE quality_batches SET field_stats = field_stats || '{\"other\": {}}'"
        " WHERE batch_id = 'h0'"
    )
    conn.execute("UPDATE quality_batches SET field_count = 7 WHERE batch_id = 'h1'")
    keys = conn.execute(
        "SELECT count(*) FROM jsonb_object_keys((SELECT field_stats FROM quality_batches"
        " WHERE batch_id = 'h2'))"
    ).fetchone()[0]
    points = read(conn, None)
    assert [p.fields for p in points] == [keys + 1, 7, max(1, keys)]


def test_a_point_without_summaries_is_made_once_and_again_when_its_row_changes(conn):
    # 30 points, the latest 10 the reference: the other 20 are kept by their row
    conn.autocommit = True
    store_history(conn, "light", T0, 30)
    cache = ReferenceCache()
    first = read(conn, cache, source="light")
    second = read(conn, cache, source="light")
    assert second == first and all(a is b for a, b in zip(first, second, strict=True))
    flag(conn, "h4", ("volume", None))
    conn.execute("UPDATE quality_batches SET records = records + 1 WHERE batch_id = 'h5'")
    third = read(conn, cache, source="light")
    assert third[4] is not first[4] and third[4].flagged == frozenset({"volume"})
    assert third[5] is not first[5] and third[5].records == first[5].records + 1
    assert all(third[i] is first[i] for i in range(30) if i not in (4, 5))
    assert read(conn, None, source="light") == third
