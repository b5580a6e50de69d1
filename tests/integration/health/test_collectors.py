"""Each collector against the real server with its condition staged."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from pgwarden.db.conninfo import with_options
from pgwarden.health import catalog, edge, families
from pgwarden.health.findings import lock_chains

from .conftest import Blocked, flush_stats, wait_until


def test_every_collector_runs_on_this_server_version(snap):
    s = snap()
    assert s.up, s.error
    ran = {name for name in s.results if name in catalog.BY_NAME}
    expected = {c.name for c in catalog.COLLECTORS} - set(s.missing)
    assert ran == expected
    failed = {n: r.error for n, r in s.results.items() if r.error}
    assert failed == {}
    assert s.missing == []  # migration 0008 created pg_stat_statements (preloaded, superuser)
    bg = s.one("bgwriter")
    assert bg["checkpoints_timed"] >= 0 and "buffers_backend" in bg
    if catalog.major_of(s.version_num or 0) >= 17:
        assert "restartpoints_done" in bg  # pg_stat_checkpointer was read
    assert s.one("server")["version_num"] == s.version_num


def test_dead_tuples_with_autovacuum_off_show_as_vacuum_debt(autocommit, snap):
    autocommit.execute(
        "CREATE TABLE public.churn (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false)"
    )
    autocommit.execute("INSERT INTO public.churn SELECT g, 'x' FROM generate_series(1, 5000) g")
    autocommit.execute("DELETE FROM public.churn WHERE id <= 3000")
    flush_stats(autocommit)
    s = snap()
    row = next(r for r in s.rows("tables") if r["relname"] == "churn")
    assert row["n_dead_tup"] == 3000 and row["n_live_tup"] == 2000
    debt = next(d for d in s.rows("vacuum_debt") if d["table"] == "public.churn")
    assert debt["autovacuum_disabled"] is True
    assert debt["dead_ratio"] == pytest.approx(0.6)
    assert debt["fix"] == 'VACUUM (ANALYZE) "public"."churn";'


def test_a_row_lock_wait_shows_blocker_and_root(db_conninfo, autocommit, snap):
    autocommit.execute("CREATE TABLE public.acct (id int PRIMARY KEY, n int)")
    autocommit.execute("INSERT INTO public.acct VALUES (1, 0)")
    holder = psycopg.connect(db_conninfo)
    holder.execute("UPDATE public.acct SET n = n + 1 WHERE id = 1")  # holds the row lock
    first = second = None
    try:
        first = Blocked(db_conninfo, "UPDATE public.acct SET n = n + 2 WHERE id = 1")
        wait_until(lambda: _waiting(autocommit, first.pid))
        second = Blocked(db_conninfo, "UPDATE public.acct SET n = n + 3 WHERE id = 1")
        wait_until(lambda: _waiting(autocommit, second.pid))
        s = snap()
        chains = {w.pid: w for w in lock_chains(s.rows("lock_waits"))}
        root = holder.info.backend_pid
        assert chains[first.pid].blockers == (root,)
        assert chains[first.pid].roots == (root,)
        assert chains[second.pid].roots == (root,)  # behind the first waiter, same root
        assert chains[second.pid].depth >= 1
        fams = {f.name: f for f in families.build(s)}
        assert fams["pgwarden_db_lock_waits"].samples[0][1] == 2
        labels = fams["pgwarden_db_lock_wait_seconds"].labels
        roots = {dict(zip(labels, v, strict=True))["root_pid"] for v, _ in
                 fams["pgwarden_db_lock_wait_seconds"].samples}  # fmt: skip
        assert roots == {str(root)}
    finally:
        holder.rollback()
        holder.close()
        for b in (first, second):
            if b is not None:
                b.close()


def _waiting(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return bool(row and row[0] == "Lock")


def test_unused_duplicate_invalid_and_bigger_than_table_indexes(autocommit, snap):
    c = autocommit
    c.execute("CREATE TABLE public.idx_t (id int PRIMARY KEY, v int, w int)")
    c.execute("INSERT INTO public.idx_t SELECT g, g % 7, g FROM generate_series(1, 100000) g")
    c.execute("CREATE INDEX idx_t_w ON public.idx_t (w)")
    c.execute("CREATE INDEX idx_t_w_again ON public.idx_t (w)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        c.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_t_v_unique ON public.idx_t (v)")
    c.execute("DELETE FROM public.idx_t")
    c.execute("VACUUM public.idx_t")  # the heap is truncated; btree pages stay
    flush_stats(c)
    s = snap()
    found = s.one("index_findings")
    unused = {u["index"]: u for u in found["unused"]}
    assert unused["public.idx_t_w"]["safe_to_drop"] is True
    assert unused["public.idx_t_w"]["fix"] == 'DROP INDEX CONCURRENTLY "public"."idx_t_w";'
    pk = unused["public.idx_t_pkey"]
    assert pk["safe_to_drop"] is False and "primary key" in pk["keep_because"]
    assert pk["fix"] is None
    bloated = {b["index"]: b for b in found["bloated"]}
    assert bloated["public.idx_t_w"]["index_bytes"] > bloated["public.idx_t_w"]["table_bytes"]
    assert bloated["public.idx_t_w"]["index_bytes"] >= 1 << 20
    dup = {d["index"]: d for d in found["duplicate"]}
    assert {"public.idx_t_w", "public.idx_t_w_again"} & set(dup)
    assert [i["index"] for i in found["invalid"]] == ["public.idx_t_v_unique"]


def test_pg_stat_statements_reset_between_snapshots(services, autocommit):
    from pgwarden import health

    autocommit.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    rt = health.runtime_for(services)
    marker = "SELECT 41 + %s AS reset_probe"
    for _ in range(5):
        autocommit.execute(marker, (1,))
    rt.collect(force=True, alert=False)
    autocommit.execute("SELECT pg_stat_statements_reset()")
    time.sleep(0.01)
    for _ in range(2):
        autocommit.execute(marker, (1,))
    rt.collect(force=True, alert=False)
    result = health.statements(services, "self", 500)
    assert result["source"].startswith("2 samples")
    probe = [s for s in result["top"] if "reset_probe" in s["query"]]
    assert len(probe) == 1
    assert probe[0]["calls"] == 2  # counted from the reset, never 2 - 5 or 5 + 2
    assert probe[0]["resets"] == 1


def test_down_target_is_pg_up_zero_and_never_fails_the_others(services):
    from pgwarden import health
    from pgwarden.health import store

    dsn = "host=127.0.0.1 port=1 dbname=app user=app password=sekrit connect_timeout=1"
    store.add_target(services.db, "gone", dsn, check=False)
    snaps = {s.target: s for s in health.collect(services, force=True)}
    assert snaps["self"].up and not snaps["gone"].up
    assert "127.0.0.1:1" in (snaps["gone"].error or "")
    assert "sekrit" not in (snaps["gone"].error or "")
    samples = {
        (f.name, v[0]): value
        for snap in snaps.values()
        for f in families.build(snap)
        for v, value in f.samples
    }
    assert samples[("pg_up", "gone")] == 0 and samples[("pg_up", "self")] == 1


def test_a_wrong_dsn_is_refused_naming_host_and_port_not_the_password(services):
    from pgwarden.errors import DatabaseUnavailable
    from pgwarden.health import store

    with pytest.raises(DatabaseUnavailable) as info:
        store.add_target(services.db, "bad", "host=127.0.0.1 port=1 user=u password=hunter2")
    assert "127.0.0.1:1" in str(info.value) and "hunter2" not in str(info.value)
    assert store.list_targets(services.db) == []


def test_a_role_without_pg_monitor_gets_the_view_named_and_the_rest_runs(
    db_conninfo, autocommit, snap
):
    role = f"plain_{int(time.time() * 1000) % 10**9}"
    autocommit.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'only-a-test'").format(sql.Identifier(role))
    )
    try:
        s = snap(with_options(db_conninfo, user=role, password="only-a-test"))
        assert s.up
        wal = s.results["wal"]
        assert wal.error and "pg_ls_waldir()" in wal.error and "GRANT pg_monitor" in wal.error
        assert s.rows("database") and s.rows("settings")  # the other collectors ran
        assert s.counters["errors:wal"] == 1
    finally:
        autocommit.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_an_access_exclusive_lock_never_makes_collection_hang(db_conninfo, autocommit, snap):
    autocommit.execute("CREATE TABLE public.busy (id int PRIMARY KEY)")
    holder = psycopg.connect(db_conninfo)
    holder.execute("LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        s = snap(lock_timeout=0.2, statement_timeout=3.0)
        assert time.monotonic() - started < 10
        assert s.up
        assert s.results["sizes"].error is None  # the locked table was skipped, not waited on
        assert any(r["relname"] == "busy" for r in s.rows("tables"))
    finally:
        holder.rollback()
        holder.close()


def test_a_collector_that_times_out_is_skipped_and_counted(autocommit, snap):
    autocommit.execute("CREATE TABLE public.wide AS SELECT g AS id FROM generate_series(1, 10) g")
    s = snap(statement_timeout=0.001)
    timed_out = [n for n, r in s.results.items() if r.timed_out]
    assert s.up and timed_out, "1 ms is too short for at least one collector"
    assert all(s.counters[f"timeouts:{n}"] == 1 for n in timed_out)
    fams = {f.name: f for f in families.build(s)}
    counted = {v[1]: x for v, x in fams["pgwarden_db_collector_timeouts_total"].samples}
    assert all(counted[n] == 1 for n in timed_out)


def test_the_probe_runs_under_the_connect_timeout_not_the_collectors(db_conninfo):
    # a 1 ms collector timeout cancelled the probe on a busy machine, and the
    # round read it as a lost connection (found by a CI run on two workers)
    with edge.open_target(db_conninfo, edge.RoundConfig(statement_timeout=0.001)) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "5s"
        conn.execute("SELECT pg_sleep(0.05)")


def test_a_probe_held_up_by_a_lock_says_so(db_conninfo, snap):
    holder = psycopg.connect(db_conninfo, autocommit=False)
    try:
        holder.execute("LOCK TABLE pg_catalog.pg_extension IN ACCESS EXCLUSIVE MODE")
        s = snap(lock_timeout=0.1)
    finally:
        holder.close()
    assert not s.up
    assert "did not answer the probe" in (s.error or "") and "lock" in (s.error or "")
    assert snap().up


def test_targets_add_list_remove(services, db_conninfo):
    from pgwarden.errors import InputInvalid, NotFound
    from pgwarden.health import runtime_for, store

    added = store.add_target(services.db, "replica", db_conninfo)
    assert added["name"] == "replica"
    assert [t.name for t in runtime_for(services).targets()] == ["self", "replica"]
    with pytest.raises(InputInvalid, match="exists"):
        store.add_target(services.db, "replica", db_conninfo)
    with pytest.raises(InputInvalid, match="reserved"):
        store.add_target(services.db, "self", db_conninfo)
    with pytest.raises(InputInvalid, match="name"):
        store.add_target(services.db, "bad name!", db_conninfo)
    store.remove_target(services.db, "replica")
    with pytest.raises(NotFound, match="replica"):
        store.remove_target(services.db, "replica")
