from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgwarden.ops.prune import BackupFacts, GfsPolicy, decide

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def daily_history(days: int, verified: set[int] | None = None) -> list[BackupFacts]:
    verified = verified or set()
    return [
        BackupFacts(i, NOW - timedelta(days=i, hours=1), "COMPLETE", i in verified)
        for i in range(days)
    ]


def test_dailies_weeklies_monthlies_with_reasons():
    history = daily_history(400, verified={0})
    got = {d.backup_id: d for d in decide(history, NOW, GfsPolicy(30, 8, 12, 1))}
    assert got[0].reason == "keep: newest backup"
    assert all(got[i].keep and got[i].reason.startswith("keep: daily") for i in range(1, 30))
    weekly = [d for d in got.values() if d.reason.startswith("keep: weekly")]
    monthly = [d for d in got.values() if d.reason.startswith("keep: monthly")]
    assert 3 <= len(weekly) <= 5  # weeks 5..8 back; the nearer ones are dailies
    assert 9 <= len(monthly) <= 11
    assert all(got[i].reason.startswith("delete: ") for i in range(370, 400))
    assert got[399].reason.startswith("delete: 399 d old, past the 30 d dailies")


def test_newest_verified_is_kept_even_past_every_window():
    history = daily_history(10) + [BackupFacts(99, NOW - timedelta(days=900), "COMPLETE", True)]
    got = {d.backup_id: d for d in decide(history, NOW, GfsPolicy(5, 0, 0, 0))}
    assert got[99].keep and got[99].reason == "keep: newest verified"
    assert not got[7].keep


def test_min_verified_keeps_older_verified_ones():
    history = daily_history(60, verified={40, 45, 50})
    got = {d.backup_id: d for d in decide(history, NOW, GfsPolicy(30, 0, 0, 3))}
    assert got[40].reason == "keep: newest verified"
    assert got[45].keep and "ops.min_verified_backups" in got[45].reason
    assert got[50].keep
    assert not got[55].keep


def test_nothing_deleted_while_the_newest_attempt_failed():
    history = daily_history(100) + [BackupFacts(1000, NOW, "FAILED", False)]
    decisions = decide(history, NOW, GfsPolicy(7, 0, 0, 0))
    assert decisions and all(d.keep for d in decisions)
    assert "newest backup attempt failed" in decisions[-1].reason


def test_failed_backups_get_no_decision_and_empty_history_is_fine():
    assert decide([], NOW, GfsPolicy()) == []
    history = daily_history(3) + [BackupFacts(50, NOW - timedelta(days=50), "FAILED", False)]
    assert {d.backup_id for d in decide(history, NOW, GfsPolicy())} == {0, 1, 2}
