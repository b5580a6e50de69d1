"""The checklist's statuses and exit code; the fast text renderer against prometheus_client."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pgwarden.health import checks as checklist
from pgwarden.health import families
from pgwarden.health.exporter import render_text, to_metric
from pgwarden.health.snapshot import Result, Snapshot

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def snap(**collectors: list[dict]) -> Snapshot:
    results = {k: Result(v, NOW) for k, v in collectors.items()}
    results.setdefault("server", Result([{"datname": "app", "short_version": "18.1"}], NOW))
    return Snapshot("self", NOW, up=True, results=results)


def items(s: Snapshot) -> dict[str, checklist.Item]:
    return {i.id: i for i in checklist.check(s)}


def test_a_down_target_is_one_failing_item_and_exit_2():
    got = checklist.check(Snapshot("x", NOW, up=False, error="could not connect to h:5432"))
    assert [(i.id, i.status) for i in got] == [("reachable", "fail")]
    assert checklist.exit_code(got) == 2


def test_cache_hit_needs_traffic_and_fails_under_90_percent():
    quiet = items(snap(database=[{"datname": "app", "blks_hit": 10, "blks_read": 90}]))
    assert quiet["cache_hit"].status == "pass" and "too little" in quiet["cache_hit"].evidence
    cold = items(snap(database=[{"datname": "app", "blks_hit": 8000, "blks_read": 2000}]))
    assert cold["cache_hit"].status == "fail" and "shared_buffers" in cold["cache_hit"].fix


def test_lock_waits_name_the_root_blocker_with_the_sql_to_end_it():
    waits = [{"pid": 7, "blockers": []}, {"pid": 8, "blockers": [7], "wait_seconds": 90.0,
              "relation": "public.t", "mode": "ShareLock"}]  # fmt: skip
    got = items(snap(lock_waits=waits))["lock_waits"]
    assert got.status == "fail" and "root blocker pid 7" in got.evidence
    assert got.fix.startswith("SELECT pg_cancel_backend(7);")


def test_unused_indexes_warn_only_for_droppable_ones():
    f = {"unused": [{"index": "s.pk", "safe_to_drop": False, "index_bytes": 8192, "fix": None}],
         "invalid": [], "bloated": [], "duplicate": []}  # fmt: skip
    got = items(snap(index_findings=[f]))
    assert got["unused_indexes"].status == "pass"
    f["unused"].append(
        {
            "index": "s.tiny",
            "safe_to_drop": True,
            "index_bytes": 16384,
            "fix": 'DROP INDEX CONCURRENTLY "s"."tiny";',
        }
    )
    assert items(snap(index_findings=[f]))["unused_indexes"].status == "pass"
    f["unused"].append({"index": "s.i", "safe_to_drop": True, "index_bytes": 4 << 20,
                        "fix": 'DROP INDEX CONCURRENTLY "s"."i";'})  # fmt: skip
    got = items(snap(index_findings=[f]))
    assert got["unused_indexes"].status == "warn"
    assert got["unused_indexes"].fix == 'DROP INDEX CONCURRENTLY "s"."i";'
    assert checklist.exit_code(list(got.values())) >= 1


def test_fast_text_parses_to_the_same_samples_as_generate_latest():
    fams = [
        families.Family("pg_up", "gauge", "up", ("target",), [(("a",), 1.0)]),
        families.Family(
            "pg_stat_database_xact_commit",
            "counter",
            "commits",
            ("target", "datname"),
            [(("a", 'we"ird\\db\n'), 12.0)],
        ),  # fmt: skip
        families.Family(
            "pg_exporter_scrapes_total", "counter", "rounds", ("target",), [(("a",), 3.0)]
        ),  # fmt: skip
    ]
    registry = CollectorRegistry(auto_describe=False)

    class Fixed:
        def collect(self):
            return [to_metric(f) for f in fams]

    registry.register(Fixed())  # type: ignore[arg-type]

    def parsed(text: str) -> list[tuple[str, tuple, float]]:
        return sorted(
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for f in text_string_to_metric_families(text)
            for s in f.samples
        )

    ours = render_text(fams)
    assert parsed(ours) == parsed(generate_latest(registry).decode())
    assert "# TYPE pg_stat_database_xact_commit untyped" in ours
    assert "# TYPE pg_exporter_scrapes_total counter" in ours
