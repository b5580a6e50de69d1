from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from pgwarden.ops.maintenance import analyze, apply_autovacuum, reindex
from pgwarden.ops.runner import RunStatus


def _invalid_index(admin_conninfo_db: str, name: str) -> None:
    """A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index behind."""
    with (
        psycopg.connect(admin_conninfo_db, autocommit=True) as c,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        c.execute(
            sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON public.dup (v)").format(
                sql.Identifier(name)
            )
        )


def test_analyze_covers_partitioned_parents(ops_services, sample, conn):
    dry = analyze(ops_services, dry_run=True)
    tables = {p["table"]: p["reason"] for p in dry.result["plan"]}
    assert tables["public.events"].startswith("partitioned parent")
    run = analyze(ops_services)
    assert run.status is RunStatus.OK
    assert "public.events" in {a["table"] for a in run.result["analyzed"]}
    conn.commit()
    stats = conn.execute(
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'events' "
        "AND inherited"
    ).fetchone()[0]
    assert stats > 0


def test_reindex_concurrently_under_writes_and_leftover_cleanup(ops_services, conn, db_conninfo):
    conn.execute(
        """
        CREATE TABLE public.hot (id bigserial PRIMARY KEY, k int NOT NULL, pad text);
        CREATE INDEX hot_k_idx ON public.hot (k);
        INSERT INTO public.hot (k, pad) SELECT g, 'x' FROM generate_series(1, 60000) g;
        DELETE FROM public.hot WHERE id % 10 <> 0;
        CREATE TABLE public.dup (v int);
        INSERT INTO public.dup VALUES (1), (1);
        """
    )
    conn.commit()
    with psycopg.connect(db_conninfo, autocommit=True) as c:
        c.execute("VACUUM public.hot")
    _invalid_index(db_conninfo, "dup_v_idx_ccnew")
    _invalid_index(db_conninfo, "dup_v_manual")
    before_oid = conn.execute("SELECT 'public.hot_k_idx'::regclass::oid").fetchone()[0]
    conn.commit()
    stop = threading.Event()
    written = [0]

    def writer():
        with psycopg.connect(db_conninfo, autocommit=True) as c:
            while not stop.is_set():
                c.execute("INSERT INTO public.hot (k, pad) VALUES (-1, 'w')")
                written[0] += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        run = reindex(ops_services, bloat_pct=30, min_bytes=0)
    finally:
        stop.set()
        t.join()
    assert run.status is RunStatus.OK, run.error
    assert run.result["dropped_leftovers"] == ["public.dup_v_idx_ccnew"]
    assert any("public.dup_v_manual" in line for line in run.result["invalid_reported"])
    rebuilt = {r["index"]: r for r in run.result["rebuilt"]}
    hot = rebuilt["public.hot_k_idx"]
    assert hot["valid"] and hot["bytes_after"] < hot["bytes"]
    after_oid = conn.execute("SELECT 'public.hot_k_idx'::regclass::oid").fetchone()[0]
    assert after_oid != before_oid
    n = conn.execute("SELECT count(*) FROM public.hot WHERE k = -1").fetchone()[0]
    assert written[0] > 0 and n == written[0]
    assert (
        conn.execute(
            "SELECT count(*) FROM pg_index WHERE NOT indisvalid "
            "AND indexrelid::regclass::text LIKE '%ccnew%'"
        ).fetchone()[0]
        == 0
    )


def test_reindex_dry_run_lists_and_changes_nothing(ops_services, conn):
    conn.execute(
        "CREATE TABLE public.b (k int); CREATE INDEX b_k ON public.b (k);"
        "INSERT INTO public.b SELECT generate_series(1, 20000); DELETE FROM public.b WHERE k > 100"
    )
    conn.commit()
    oid = conn.execute("SELECT 'public.b_k'::regclass::oid").fetchone()[0]
    conn.commit()
    run = reindex(ops_services, dry_run=True, bloat_pct=30, min_bytes=0)
    assert "public.b_k" in {r["index"] for r in run.result["reindex"]}
    assert conn.execute("SELECT 'public.b_k'::regclass::oid").fetchone()[0] == oid


def test_autovacuum_settings_reach_the_leaves(ops_services, sample, conn):
    ops_services.config.set(
        "ops.autovacuum",
        {
            "public.events": {"autovacuum_vacuum_insert_scale_factor": 0.05},
            "public.orders": {"autovacuum_vacuum_scale_factor": 0.02},
        },
    )
    dry = apply_autovacuum(ops_services, dry_run=True)
    assert len(dry.result["changes"]) == 2
    run = apply_autovacuum(ops_services)
    assert run.status is RunStatus.OK and len(run.result["applied"]) == 2
    conn.commit()
    opts = dict(
        conn.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('events_2026', 'orders')"
        ).fetchall()
    )
    assert opts["events_2026"] == ["autovacuum_vacuum_insert_scale_factor=0.05"]
    assert opts["orders"] == ["autovacuum_vacuum_scale_factor=0.02"]
    again = apply_autovacuum(ops_services, dry_run=True)
    assert again.result["changes"] == []
