"""A cycle on the real server: persisted, idempotent, isolated, on a pool of one."""

from __future__ import annotations

import logging

import pytest
from psycopg import sql

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import connect
from pgwarden.db.queries import Queries
from pgwarden.demo.models import register_demo_models
from pgwarden.models import get_cycle, get_registry, promote, run_cycle, run_stats
from pgwarden.models.errors import CycleInProgress, GraphCycle, ModelFieldInvalid
from pgwarden.services import Services
from tests.conftest import make_settings
from tests.integration.models.conftest import T0, cycle_time, register


def demo_batches(seed: int = 1) -> list[dict]:
    import random

    rnd = random.Random(seed)
    batches = []
    for source in ("user_events", "transaction_logs", "system_metrics", "api_calls"):
        records = []
        for i in range(40):
            rec = {"id": f"{source[:3]}{i}", "timestamp": "2026-11-21T10:00:00Z",
                   "value": rnd.gauss(50, 5), "category": "A", "user_id": f"u{i % 7}"}  # fmt: skip
            if i % 10 == 3:
                rec["timestamp"] = None
            elif i % 10 == 7:
                rec["value"] = -999
            elif i % 13 == 5:
                rec["value"] = 50 + rnd.choice([-1, 1]) * rnd.uniform(12, 30)
            records.append(rec)
        batches.append({"source": source, "batch_id": f"b-{source}", "records": records})
    return batches


def test_a_full_demo_cycle_is_persisted_and_idempotent(services, fetch):
    assert register_demo_models(services) == ["demo.spike", "demo.missing", "demo.risk"]
    assert register_demo_models(services) == ["demo.spike", "demo.missing", "demo.risk"]
    report = run_cycle(services, "cycle-1", T0, demo_batches())
    assert report.status == "OK" and not report.replayed
    assert report.counts() == {"OK": 4, "FAILED": 0, "SKIPPED": 0, "TIMEOUT": 0}
    assert [r.model_id for r in report.runs] == [
        "demo.missing", "demo.spike", "demo.spike", "demo.risk"]  # fmt: skip
    risk = report.run_of("demo.risk")
    assert risk.output_count == 4  # one per source
    stored = fetch(
        "SELECT model_id, role, count(*) FROM detection_model_run_outputs "
        "WHERE cycle_id = 'cycle-1' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    # 160 records, 32 without timestamp or with -999: 128 scored by each spike version
    assert stored == [("demo.missing", "PRIMARY", 4), ("demo.risk", "PRIMARY", 4),
                      ("demo.spike", "PRIMARY", 128), ("demo.spike", "SHADOW", 128)]  # fmt: skip
    assert report.output_rows == 264
    # rows land in the DEFAULT partition until the partitions feature makes monthly ones
    assert fetch("SELECT count(*) FROM detection_model_run_outputs_default")[0][0] >= 264
    cyc = fetch("SELECT status, fingerprint, versions_ok, output_rows FROM detection_cycles")
    assert cyc == [("OK", report.fingerprint, 4, 264)]
    metrics = fetch("SELECT metric_key, value FROM detection_model_metrics m "
                    "JOIN detection_model_runs r ON r.id = m.run_id "
                    "WHERE r.model_id = 'demo.missing'")  # fmt: skip
    assert metrics == [("records", 160.0)]
    missing = fetch("SELECT entity_key, score, decision, payload->>'defects' "
                    "FROM detection_model_run_outputs WHERE model_id = 'demo.missing' "
                    "ORDER BY entity_key")  # fmt: skip
    assert missing[0] == ("api_calls", 0.2, "degraded", "8")

    again = run_cycle(services, "cycle-1", T0, demo_batches(seed=99))
    assert again.replayed and again.status == "OK"
    assert [(r.model_id, r.version, r.status) for r in again.runs] == [
        (r.model_id, r.version, r.status) for r in report.runs]  # fmt: skip
    assert fetch("SELECT count(*) FROM detection_model_run_outputs")[0][0] == 264
    stored_report = get_cycle(services, "cycle-1")
    assert stored_report is not None and stored_report.output_rows == 264
    assert get_cycle(services, "never") is None
    stats = run_stats(services)
    assert {(m["model_id"], m["role"]) for m in stats["models"]} == {
        ("demo.missing", "PRIMARY"), ("demo.risk", "PRIMARY"), ("demo.spike", "PRIMARY"),
        ("demo.spike", "SHADOW")}  # fmt: skip
    assert stats["cycle"]["count"] == 1 and stats["cycle"]["p95"] >= 0


def test_bad_output_row_of_one_model_loses_nothing_else(services, fetch, caplog):
    register(services, "good", "Const", {"n": 5})
    rows = [{"entity_key": "ok", "score": 1}, {"entity_key": "x", "score": "not a number"}]
    register(services, "bad", "Echo", {"rows": rows})
    register(services, "needs_bad", "Const", inputs={"b": "bad"})
    register(services, "metrics", "BadMetrics")
    with caplog.at_level(logging.WARNING, logger="pgwarden.models.store"):
        report = run_cycle(services, "c-bad", T0, None)
    bad = report.run_of("bad")
    assert (bad.status, bad.reason, bad.error_class) == ("FAILED", "persist_failed",
                                                         "InvalidTextRepresentation")  # fmt: skip
    assert report.run_of("needs_bad").reason == "upstream_failed:bad"
    assert report.run_of("good").status == "OK"
    rows = fetch("SELECT model_id, count(*) FROM detection_model_run_outputs GROUP BY 1 ORDER BY 1")
    assert rows == [("good", 5), ("metrics", 1)]
    runs = fetch("SELECT model_id, status, error_class FROM detection_model_runs ORDER BY model_id")
    assert runs == [("bad", "FAILED", "InvalidTextRepresentation"), ("good", "OK", None),
                    ("metrics", "OK", None), ("needs_bad", "SKIPPED", None)]  # fmt: skip
    # metric keys: 65 characters and NaN dropped with one warning, the rest kept and counted
    m = report.run_of("metrics")
    assert (m.metric_count, m.dropped_metric_count) == (2, 2)
    assert fetch("SELECT dropped_metric_count FROM detection_model_runs "
                 "WHERE model_id = 'metrics'") == [(2,)]  # fmt: skip
    keys = fetch("SELECT metric_key FROM detection_model_metrics m JOIN detection_model_runs r "
                 "ON r.id = m.run_id WHERE r.model_id = 'metrics' ORDER BY 1")  # fmt: skip
    assert keys == [("also_ok",), ("ok",)]
    warnings = [r for r in caplog.records if "dropped 2 metric" in r.getMessage()]
    assert len(warnings) == 1 and "k" * 65 in warnings[0].getMessage()


def test_a_20_model_cycle_on_a_pool_of_one(db_conninfo):
    db = connect(make_settings(db_conninfo, pool_min_size=1, pool_max_size=1, pool_timeout=5),
                 name="pool-of-one")  # fmt: skip
    try:
        services = Services(db=db, config=RuntimeConfig(db))
        for i in range(20):
            inputs = {"prev": f"m{i - 1:02d}"} if i % 5 else {}
            register(services, f"m{i:02d}", "Const", {"n": 3}, inputs=inputs)
            if i % 4 == 0:
                register(services, f"m{i:02d}", "Const", {"n": 2}, version="v2", role="SHADOW")
        report = run_cycle(services, "pool-1", T0, None)
        assert report.status == "OK" and len(report.runs) == 25
        assert report.output_rows == 20 * 3 + 5 * 2
        with db.connection() as conn:
            assert conn.execute("SELECT count(*) FROM detection_model_runs").fetchone() == (25,)
            assert not conn.autocommit  # the pool's connection is handed back as it came
    finally:
        db.close()


def test_promote_during_a_cycle_applies_to_the_next_one(services):
    register(services, "m", "Const", {"n": 1})
    register(services, "m", "Const", {"n": 2}, version="v2", role="SHADOW")
    registry = get_registry(services)
    first = run_cycle(services, "c1", cycle_time(1), None)
    snap = registry.snapshot()
    promote(services, "m", "v2", who="t", reason="test", force=True)
    assert registry.snapshot().fingerprint != snap.fingerprint  # invalidated here at once
    second = run_cycle(services, "c2", cycle_time(2), None)
    assert first.run_of("m").version == "v1" and second.run_of("m").version == "v2"
    assert first.fingerprint != second.fingerprint


def test_cycle_id_runs_in_one_session_at_a_time(services, database):
    register(services, "m", "Const")
    with database.connection() as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended("
                      "'pgwarden.models.cycle:' || 'pgwarden' || ':' || 'busy', 0))")  # fmt: skip
        with pytest.raises(CycleInProgress, match="'busy'"):
            run_cycle(services, "busy", T0, None)
        other.execute("SELECT pg_advisory_unlock_all()")
    assert run_cycle(services, "busy", T0, None).status == "OK"


def test_a_cycle_left_running_is_cleaned_and_run_again(services, fetch):
    register(services, "m", "Const", {"n": 2})
    run_cycle(services, "crash", T0, None)
    # simulate a session that died halfway: the row says RUNNING
    fetch("UPDATE detection_cycles SET status = 'RUNNING' WHERE cycle_id = 'crash' RETURNING 1")
    report = run_cycle(services, "crash", T0, None)
    assert not report.replayed and report.status == "OK"
    assert fetch("SELECT count(*) FROM detection_model_run_outputs")[0][0] == 2


def test_cleaning_a_cycle_left_running_keeps_other_cycles_at_the_same_time(services, fetch):
    register(services, "m", "Const", {"n": 3})
    register(services, "k", "Const", {"n": 2})
    run_cycle(services, "crashed", T0, None)
    run_cycle(services, "neighbour", T0, None)  # same cycle time, same partition
    fetch("UPDATE detection_cycles SET status = 'RUNNING' WHERE cycle_id = 'crashed' RETURNING 1")
    assert run_cycle(services, "crashed", T0, None).status == "OK"
    rows = fetch(
        "SELECT cycle_id, model_id, count(*) FROM detection_model_run_outputs"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert rows == [("crashed", "k", 2), ("crashed", "m", 3),
                    ("neighbour", "k", 2), ("neighbour", "m", 3)]  # fmt: skip


def test_the_clean_up_of_a_cycle_probes_the_model_index(services, fetch):
    """The outputs have no index by cycle (0012); deleting one cycle's rows must still
    be index probes, not a scan of every output row of the partition."""
    q = Queries("pgwarden.models", services.db.schema)
    fetch(
        "INSERT INTO detection_model_run_outputs (cycle_started_at, cycle_id, model_id,"
        " version_id, role, ordinal, entity_key, score)"
        " SELECT %s::timestamptz + (i / 500) * interval '1 minute', 'c' || (i / 500),"
        " 'model-' || (i %% 7), 1, 'PRIMARY', i, 'k' || i, i FROM generate_series(1, 60000) i"
        " RETURNING 1",
        T0,
    )
    with services.db.connection() as conn:
        conn.execute("ANALYZE detection_model_run_outputs")
        plan = conn.execute(
            sql.SQL("EXPLAIN (FORMAT JSON) ") + q["delete_cycle_outputs"],
            {"cycle_id": "c7", "cycle_time": cycle_time(7)},
        ).fetchone()[0]
    scans = _scans(plan[0]["Plan"])
    outputs = [s for s in scans if s[1].startswith("detection_model_run_outputs")]
    # probes: each index scan of the outputs is bounded by the model (a scan of the whole
    # index with the time as a filter would pass a test of node types alone)
    probes = [cond for kind, _, cond in outputs if "Index" in kind]
    assert probes and all("model_id" in cond for cond in probes), scans
    assert not [kind for kind, _, _ in outputs if kind == "Seq Scan"], scans


def _scans(node: dict) -> list[tuple[str, str, str]]:
    """(node type, relation or index name, index condition) of every scan in a JSON plan."""
    found = []
    name = node.get("Index Name") or node.get("Relation Name")
    if name and node["Node Type"].endswith("Scan"):
        found.append((node["Node Type"], name, node.get("Index Cond", "")))
    for child in node.get("Plans", ()):
        found.extend(_scans(child))
    return found


def test_strict_mode_and_bad_arguments(services, fetch):
    register(services, "a", "Const")
    register(services, "b", "Const", inputs={"a": "a"})
    fetch("INSERT INTO detection_model_dependencies VALUES ('a', 'b', 'loop') RETURNING 1")
    get_registry(services).invalidate()
    report = run_cycle(services, "loose", T0, None)
    assert report.status == "PARTIAL" and report.cycles == ("a -> b -> a",)
    with pytest.raises(GraphCycle, match="a -> b -> a"):
        run_cycle(services, "strict", T0, None, strict=True)
    assert fetch("SELECT status FROM detection_cycles WHERE cycle_id = 'strict'") == [("FAILED",)]
    with pytest.raises(ModelFieldInvalid, match="cycle_time"):
        run_cycle(services, "naive", T0.replace(tzinfo=None), None)
    with pytest.raises(ModelFieldInvalid, match="cycle_id"):
        run_cycle(services, "", T0, None)
