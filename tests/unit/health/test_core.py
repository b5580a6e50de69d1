"""The pure core: catalogue versions, roll-ups, lock chains, statement deltas, families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgwarden.health import catalog, families, findings, rollup
from pgwarden.health import statement_stats as statements
from pgwarden.health.snapshot import Result, Snapshot

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("version", "bgwriter", "indexes", "stmts"),
    [(150018, 15, 15, 15), (160004, 15, 16, 15), (170002, 17, 16, 17), (180006, 17, 16, 17)],
)
def test_each_major_gets_its_own_blocks(version, bgwriter, indexes, stmts):
    blocks = catalog._blocks()
    assert catalog.query_for("bgwriter", version) == blocks["bgwriter"][bgwriter]
    assert catalog.query_for("indexes", version) == blocks["indexes"][indexes]
    assert catalog.query_for("statements", version) == blocks["statements"][stmts]
    assert ("pg_stat_checkpointer" in catalog.query_for("bgwriter", version)) == (bgwriter == 17)
    assert ("shared_blk_read_time" in catalog.query_for("statements", version)) == (stmts == 17)
    assert ("last_idx_scan)" in catalog.query_for("indexes", version)) == (indexes == 16)
    with pytest.raises(ValueError, match="needs PostgreSQL 15"):
        catalog.query_for("bgwriter", 140000)


def test_plan_runs_slow_collectors_on_their_interval_and_skips_missing_extensions():
    intervals = {catalog.FAST: 0, catalog.SLOW: 900, catalog.STATEMENTS: 300}
    due, missing = catalog.plan(180000, [], {}, NOW, intervals)
    assert missing == ["statements"] and "sizes" in {d.spec.name for d in due}
    last = {c.name: NOW for c in catalog.COLLECTORS}
    due, _ = catalog.plan(
        180000, ["pg_stat_statements"], last, NOW + timedelta(seconds=60), intervals
    )
    names = {d.spec.name for d in due}
    assert "tables" in names and "sizes" not in names and "statements" not in names


def _leaf(parent: str, i: int, dead: float = 0, size: float = 8192) -> dict:
    return {
        "relid": i,
        "schemaname": "s",
        "relname": f"{parent}_{i}",
        "relkind": "r",
        "is_partition": True,
        "root_schema": "s",
        "root_name": parent,
        "n_dead_tup": dead,
        "n_live_tup": 10.0,
        "est_bytes": size,
        "seq_scan": 1.0,
        "last_autovacuum": float(i),
    }


def test_two_thousand_partitions_roll_up_to_tens_of_entities_each_counted_once():
    rows = [
        _leaf(f"p{p}", p * 1000 + i, dead=(i == 7) * 500) for p in range(20) for i in range(100)
    ]
    rows += [
        {"relid": 9_000_000 + p, "schemaname": "s", "relname": f"p{p}", "relkind": "p"}
        for p in range(20)
    ]
    ents = rollup.condense_tables(rows, top_k=2, max_entities=50)
    assert len(ents) == 51  # 20 parents + 30 leaves kept, the rest in __other__
    assert sum(e["n_live_tup"] for e in ents) == 20 * 100 * 10  # nothing lost, nothing twice
    assert sum(e["n_dead_tup"] for e in ents) == 20 * 500
    kinds = [e["kind"] for e in ents]
    assert kinds.count("parent") == 20 and kinds[-1] == "other"
    leaf = next(e for e in ents if e["kind"] == "leaf")
    assert leaf["relname"].endswith("_7")  # the leaf with dead tuples is shown on its own
    parent = next(e for e in ents if e["relname"] == "p0")
    assert parent["partitions"] == 98 and parent["leaves"] == 100
    assert parent["last_autovacuum"] == 99.0


def test_lock_chains_find_the_root_and_name_a_deadlock_cycle():
    rows = [
        {"pid": 1, "blockers": []},
        {"pid": 2, "blockers": [1], "wait_seconds": 5.0},
        {"pid": 3, "blockers": [2], "wait_seconds": 9.0},
        {"pid": 10, "blockers": [11]},
        {"pid": 11, "blockers": [10]},
    ]
    chains = {w.pid: w for w in findings.lock_chains(rows)}
    assert chains[3].roots == (1,) and chains[3].depth == 2 and chains[2].roots == (1,)
    assert chains[10].roots == (11,) and chains[11].roots == (10,)
    assert list(chains)[0] == 3  # longest wait first


def test_vacuum_debt_uses_the_autovacuum_trigger_and_never_means_56_years():
    rows = [
        {"schemaname": "s", "relname": "small", "n_dead_tup": 60, "n_live_tup": 10},
        {"schemaname": "s", "relname": "big", "n_dead_tup": 300, "n_live_tup": 10000},
        {
            "schemaname": "s",
            "relname": "bad",
            "n_dead_tup": 5000,
            "n_live_tup": 1000,
            "last_autovacuum": 1000.0,
        },
    ]
    debt = findings.vacuum_debt(
        rows, {"autovacuum_vacuum_threshold": 50, "autovacuum_vacuum_scale_factor": 0.2}, now=4600.0
    )
    assert [d["table"] for d in debt] == ["s.bad", "s.small"]
    assert debt[0]["since_vacuum"] == 3600.0 and debt[1]["since_vacuum"] is None


def _stmt(qid: int, calls: float, ms: float, reset: float = 1.0, top: bool = True) -> dict:
    return {
        "queryid": qid,
        "userid": 1,
        "dbid": 1,
        "toplevel": top,
        "calls": calls,
        "total_exec_ms": ms,
        "rows": calls,
        "stats_reset": reset,
        "query": f"q{qid}",
    }


def test_statement_deltas_handle_resets_eviction_and_toplevel():
    a = [_stmt(1, 10, 100), _stmt(2, 5, 50), _stmt(1, 3, 30, top=False)]
    b = [_stmt(1, 15, 200), _stmt(2, 2, 40), _stmt(1, 4, 35, top=False), _stmt(3, 1, 1)]
    d = statements.diff(a, b)
    assert d[(1, 1, 1, True)].calls == 5 and d[(1, 1, 1, True)].total_exec_ms == 100
    assert d[(1, 1, 1, False)].calls == 1  # nested executions stay a separate key
    assert d[(2, 1, 1, True)].calls == 2 and d[(2, 1, 1, True)].resets == 1  # evicted: restart
    assert d[(3, 1, 1, True)].calls == 1
    c = [_stmt(1, 2, 10, reset=50)]
    after_reset = statements.diff(b, c)
    assert after_reset[(1, 1, 1, True)].calls == 2 and after_reset[(1, 1, 1, True)].resets == 1
    total = statements.accumulate([a, b, c])
    assert total[(1, 1, 1, True)].calls == 7


def test_regressions_compare_mean_time_with_a_week_ago():
    now = statements.diff([], [_stmt(1, 100, 1000), _stmt(2, 100, 100)])
    before = statements.diff([], [_stmt(1, 100, 100), _stmt(2, 100, 100)])
    reg = statements.regressions(now, before)
    assert [(r["queryid"], r["ratio"]) for r in reg] == [(1, 10.0)]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"name": "shared_buffers", "setting": "16384", "unit": "8kB", "vartype": "integer"},
            ("shared_buffers_bytes", 134217728.0),
        ),
        (
            {"name": "work_mem", "setting": "4096", "unit": "kB", "vartype": "integer"},
            ("work_mem_bytes", 4194304.0),
        ),
        (
            {"name": "max_wal_size", "setting": "1024", "unit": "MB", "vartype": "integer"},
            ("max_wal_size_bytes", 1073741824.0),
        ),
        (
            {"name": "statement_timeout", "setting": "1500", "unit": "ms", "vartype": "integer"},
            ("statement_timeout_seconds", 1.5),
        ),
        (
            {"name": "transaction_read_only", "setting": "off", "unit": "", "vartype": "bool"},
            ("transaction_read_only", 0.0),
        ),
        (
            {"name": "pg_stat_statements.max", "setting": "5000", "unit": "", "vartype": "integer"},
            ("pg_stat_statements_max", 5000.0),
        ),
        (
            {"name": "idle_session_timeout", "setting": "-1", "unit": "ms", "vartype": "integer"},
            ("idle_session_timeout_seconds", -1.0),
        ),
    ],
)
def test_settings_are_unit_normalised_like_postgres_exporter(row, expected):
    assert families.setting_value(row) == expected


def test_a_down_target_still_has_pg_up_and_scrape_counters():
    fams = {
        f.name: f
        for f in families.build(
            Snapshot("db2", NOW, up=False, error="refused", counters={"rounds": 3})
        )
    }
    assert fams["pg_up"].samples == [(("db2",), 0.0)]
    assert fams["pg_exporter_scrapes_total"].samples == [(("db2",), 3.0)]


def test_families_respect_a_small_budget():
    tables = [_leaf(f"p{p}", p * 1000 + i) for p in range(20) for i in range(100)]
    s = Snapshot(
        "self",
        NOW,
        up=True,
        results={"tables": Result(tables, NOW), "server": Result([{"datname": "d"}], NOW)},
    )
    fams = families.build(s, families.Limits(budget=800))
    assert sum(len(f.samples) for f in fams) <= 800
    names = {v[3] for f in fams if f.name == "pg_stat_user_tables_n_live_tup" for v, _ in f.samples}
    assert "__other__" in names
