"""Cache invalidation in another process through NOTIFY; comparison on stored runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from pgwarden.models import activate, add_version, archive, compare, promote, run_cycle
from tests.integration.models.conftest import T0, cycle_time, register
from tests.unit.models import toy

ROOT = Path(__file__).resolve().parents[3]

OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from pgwarden.db.pool import connect
    from pgwarden.models.registry import Registry
    from tests.conftest import make_settings

    db = connect(make_settings(sys.argv[1], pool_min_size=1, pool_max_size=1), name="other")
    reg = Registry(db, ttl=3600.0)  # only a NOTIFY can make it reload within the test
    try:
        reg.listen()
        def state():
            snap = reg.snapshot()
            return ",".join(f"{v.version}:{v.role.value}" for v in snap.versions)
        print("ready", state(), reg.cache.loads, flush=True)
        for want in sys.argv[2:]:
            deadline = time.monotonic() + 20
            while state() != want and time.monotonic() < deadline:
                time.sleep(0.01)
            print("seen", state(), reg.cache.loads, flush=True)
    finally:
        reg.close()
        db.close()
    """
)


def test_promote_and_archive_invalidate_the_cache_of_another_process(services, db_conninfo):
    register(services, "m", "Const")
    register(services, "m", "Const", {"n": 2}, version="v2", role="SHADOW")
    add_version(services, "m", "v3", f"{toy.HERE}:Const", {"n": 3}, role="SHADOW")
    steps = ["v2:PRIMARY", "v2:PRIMARY,v3:SHADOW", "v2:PRIMARY"]
    proc = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, db_conninfo, *steps],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[:2] == ["ready", "v1:PRIMARY,v2:SHADOW"], proc.stderr.read()
        loads = int(first[2])
        actions = [
            lambda: promote(services, "m", "v2", who="t", reason="r", force=True),
            lambda: activate(services, "m", "v3", who="t"),
            lambda: archive(services, "m", "v3", who="t"),
        ]
        for step, (action, want) in enumerate(zip(actions, steps, strict=True), start=1):
            action()
            seen = proc.stdout.readline().split()
            assert seen[:2] == ["seen", want]
            assert int(seen[2]) == loads + step  # one reload per notice, none from the TTL
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_comparison_on_stored_cycles_matches_hand_computed_values(services, fetch):
    primary = {
        "c1": [{"entity_key": "a", "score": 1.0, "decision": "x"},
               {"entity_key": "b", "score": 2.0, "decision": "y"},
               {"entity_key": "c", "score": 3.0, "decision": "x"}],
        "c2": [{"entity_key": "a", "score": 4.0, "decision": "y"},
               {"entity_key": "b", "decision": "y"}],
    }  # fmt: skip
    shadow = {
        "c1": [{"entity_key": "a", "score": 1.5, "decision": "x"},
               {"entity_key": "b", "score": 2.0, "decision": "x"},
               {"entity_key": "d", "score": 9.0, "decision": "y"}],
        "c2": [{"entity_key": "a", "score": 3.0, "decision": "y"},
               {"entity_key": "b", "score": 5.0}],
    }  # fmt: skip
    register(services, "m", "Echo", {"by_cycle": primary})
    register(services, "m", "Echo", {"by_cycle": shadow, "fail_in": ["c3"]}, version="v2",
             role="SHADOW")  # fmt: skip
    register(services, "other", "Const")
    for i, cid in enumerate(["c1", "c2", "c3"]):
        run_cycle(services, cid, cycle_time(i), None)
    old = T0 - timedelta(days=30)  # outside the window: must not count
    run_cycle(services, "old", old, None)

    result = compare(services, "m", timedelta(days=7), now=cycle_time(10))
    assert result.cycles == 3
    c = result.candidate("v2")
    assert (c.cycles, c.paired_cycles, c.primary_versions) == (3, 2, ("v1",))
    assert c.error_rate == pytest.approx(1 / 3) and c.primary_error_rate == 0
    assert (c.primary_entities, c.matched_entities, c.coverage) == (5, 4, 0.8)
    assert c.agreement == pytest.approx(2 / 3)
    assert (c.flips, c.flips_by_pair) == (1, {"y->x": 1})
    assert c.mean_delta == pytest.approx(-0.5 / 3)
    assert (c.p50_abs_delta, c.p95_abs_delta, c.max_abs_delta) == pytest.approx((0.5, 0.95, 1.0))
    assert c.rank_correlation == pytest.approx(1.0)
    durations = dict(fetch("SELECT version || cycle_id, duration_ms FROM detection_model_runs "
                           "WHERE model_id = 'm'"))  # fmt: skip
    want = ((durations["v2c1"] + durations["v2c2"]) / 2) / (
        (durations["v1c1"] + durations["v1c2"]) / 2
    )
    assert c.latency_ratio == pytest.approx(want)
    assert c.verdict == "FAIL"  # 3 cycles < the default 20
    assert "cycles 3 (needs >= 20)" in c.failed_gates()
    assert result.to_dict()["candidates"][0]["flips_by_pair"] == {"y->x": 1}
