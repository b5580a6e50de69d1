"""The thin database edge of anomaly detection: read a source's history, store results.

History comes from `quality_batches` (the checker's table) and the flags
from `quality_anomalies`; nothing else is read, so the detectors see exactly
what a later reader can audit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.arrays import TextArray
from pgwarden.db.queries import Queries
from pgwarden.quality.anomaly.model import BatchPoint, Evaluation


def queries(schema: str) -> Queries:
    return Queries("pgwarden.quality.anomaly", schema)


class ReferenceCache:
    """The reference points of a process's recent evaluations, by database and source.

    A stored batch's field summaries never change, yet every evaluation read
    the latest `reference_batches` of them again (jsonb over the wire, parsed
    into Python) and parsed each into its distribution summary again. Kept
    here, each batch's summaries are read and parsed once: an evaluation
    fetches only the rows new since the last one. A point is reused only for
    the same row version (its xmin), so a batch id stored again is read
    again. At most `max_points` points are kept; the source used least
    recently goes first.
    """

    def __init__(self, max_points: int = 2_000) -> None:
        self.max_points = max_points
        self._by_source: OrderedDict[tuple[Any, ...], dict[str, tuple[Any, BatchPoint]]]
        self._by_source = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> dict[str, tuple[Any, BatchPoint]]:
        """{batch id: (row version or row, point)} held for a (database, schema, source)."""
        with self._lock:
            return dict(self._by_source.get(key, {}))

    def keep(self, key: tuple[Any, ...], points: dict[str, tuple[Any, BatchPoint]]) -> None:
        """The source's reference points now (those that left the window are dropped)."""
        with self._lock:
            old = self._by_source.pop(key, {})
            self._size -= len(old)
            if len(points) > self.max_points:
                return
            self._by_source[key] = points
            self._size += len(points)
            while self._size > self.max_points:
                _, dropped = self._by_source.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._by_source.clear()
            self._size = 0


#: the process's cache (a worker evaluates its sources' batches one after another)
REFERENCES = ReferenceCache()

#: the other points of the baseline windows (no summaries: a few hundred bytes each), by
#: their row: 28 days of 5-minute batches are 8,064 points a source, each made again on
#: every evaluation before (19 of read_history's 36 ms)
POINTS = ReferenceCache(max_points=100_000)


def read_history(
    conn: psycopg.Connection,
    schema: str,
    source: str,
    batch_id: str,
    until: datetime,
    *,
    days: int,
    reference_batches: int,
    cache: ReferenceCache | None = REFERENCES,
) -> list[BatchPoint]:
    """The source's batches of the last `days` before `until` (the batch itself excluded).

    Field summaries are attached only to the latest `reference_batches`
    accepted batches: the drift reference needs no more, and jsonb is the
    costly part of the read. With a `cache`, a reference batch held from an
    earlier evaluation is reused whole (its summaries parsed already) and its
    jsonb not read again. Both reads go in one round trip.
    """
    q = queries(schema)
    since = until - timedelta(days=days)
    info = conn.info
    key = (info.host, info.port, info.dbname, schema, source)
    held = cache.get(key) if cache is not None else {}
    light: dict[str, tuple[Any, BatchPoint]] = POINTS.get(key) if cache is not None else {}
    seen: dict[str, tuple[Any, BatchPoint]] = {}
    params = {"source": source, "batch_id": batch_id, "since": since, "until": until}
    cached = TextArray([f"{batch}:{version}" for batch, (version, _) in held.items()])
    with conn.pipeline():
        points_cur = conn.execute(q["history_points"], params)
        stats_cur = conn.execute(
            q["history_stats"], {**params, "limit": reference_batches, "cached": cached}
        )
    rows = points_cur.fetchall()
    stats = {batch: (version, summaries) for batch, version, summaries in stats_cur.fetchall()}
    out: list[BatchPoint] = []
    reference: dict[str, tuple[Any, BatchPoint]] = {}
    for r in rows:
        batch = r[0]
        if batch not in stats:  # a point without summaries: the same row, the same point
            got = light.get(batch)
            if got is not None and got[0] == r:
                seen[batch] = got
                out.append(got[1])
                continue
        batch, at, records, status, missing, mismatches, fields, flagged = r
        version, summaries = stats.get(batch, ("", {}))
        old = held[batch][1] if summaries is None and batch in held else None
        point = BatchPoint(
            batch_id=batch,
            received_at=at,
            records=int(records),
            accepted=status == "ACCEPTED",
            missing_values=int(missing or 0),
            type_mismatches=int(mismatches or 0),
            fields=max(1, int(fields or 0)),
            field_stats=(old.field_stats if old is not None else summaries) or {},
            flagged=frozenset(flagged or ()),
        )
        if old is not None and old == point:
            point = old  # the same point, its summaries parsed already
        if batch in stats:
            reference[batch] = (version, point)
        else:
            seen[batch] = (r, point)
        out.append(point)
    if cache is not None:
        cache.keep(key, reference)
        POINTS.keep(key, seen)
    return out


def store_evaluation(
    conn: psycopg.Connection, schema: str, source: str, received_at: datetime, ev: Evaluation
) -> None:
    q = queries(schema)
    for r in ev.anomalies:
        conn.execute(
            q["insert_anomaly"],
            {
                "batch_id": ev.batch_id, "source": source, "received_at": received_at,
                "metric": r.metric, "field": r.field, "observed": r.observed,
                "expected": r.expected, "low": r.low, "high": r.high,
                "direction": r.direction, "p_value": r.p_value, "q_value": r.q_value,
                "score": min(1.0, max(0.0, r.score)), "method": r.method,
                "details": Jsonb({**r.to_dict()["details"], "window": r.window.to_dict(),
                                  "effect": r.effect}),
            },
        )  # fmt: skip
    summary = {
        r.key: {"status": str(r.status), "p_value": r.p_value, "anomaly": r.anomaly}
        for r in ev.results
    }
    conn.execute(
        q["finish_evaluation"],
        {
            "batch_id": ev.batch_id,
            "tested": sum(1 for r in ev.results if r.status == "tested"),
            "insufficient": len(ev.insufficient),
            "anomalies": len(ev.anomalies),
            "summary": Jsonb(summary),
        },
    )
