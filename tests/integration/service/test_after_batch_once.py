"""The after-batch step runs exactly once per batch, even after a crash between the
quality commit and its own (issue 10 point 7)."""

from __future__ import annotations

import pytest

from pgwarden.service import pipeline
from pgwarden.service.ingest import ingest


class _Crash(BaseException):
    """A process killed at this point: nothing below runs, no except clause sees it."""


def _counts(services, batch_id: str) -> tuple[int, int, int, int, int]:
    with services.db.connection() as conn:
        return (
            conn.execute(
                "SELECT count(*) FROM quality_batches WHERE batch_id = %s", [batch_id]
            ).fetchone()[0],
            conn.execute(
                "SELECT count(*) FROM quality_evaluations WHERE batch_id = %s", [batch_id]
            ).fetchone()[0],
            conn.execute(
                "SELECT coalesce(sum(batches), 0) FROM quality_daily WHERE source = 's'"
            ).fetchone()[0],
            conn.execute(
                "SELECT count(*) FROM batch_steps WHERE batch_id = %s AND step = 'after_batch'",
                [batch_id],
            ).fetchone()[0],
            conn.execute(
                "SELECT count(*) FROM ingest_batches WHERE batch_id = %s AND status = 'DONE'",
                [batch_id],
            ).fetchone()[0],
        )


def test_a_crash_between_quality_and_the_after_batch_step_is_made_good_by_the_retry(
    services, monkeypatch
):
    ingest(services, "s", b'{"id": 1, "v": 2}\n{"id": 2, "v": 3}\n', batch_id="b-crash")

    def crash(name: str) -> None:
        if name == "between_quality_and_after_batch":
            raise _Crash(name)

    monkeypatch.setattr(pipeline, "fault_point", crash)
    with pytest.raises(_Crash):
        pipeline.process_batch(services, "b-crash")
    assert _counts(services, "b-crash") == (1, 0, 0, 0, 0)  # quality stored, nothing after

    monkeypatch.undo()
    outcome = pipeline.process_batch(services, "b-crash")  # the job's retry
    assert outcome.status == "DONE"
    assert _counts(services, "b-crash") == (1, 1, 1, 1, 1)

    # a second delivery of the same job changes nothing
    with services.db.connection() as conn:
        conn.execute("UPDATE ingest_batches SET status = 'FAILED' WHERE batch_id = 'b-crash'")
    pipeline.process_batch(services, "b-crash")
    assert _counts(services, "b-crash") == (1, 1, 1, 1, 1)


def test_a_failed_after_batch_step_is_run_by_the_sweep(services, monkeypatch):
    from pgwarden import quality

    ingest(services, "s", b'{"id": 1, "v": 2}\n', batch_id="b-sweep")
    real = quality.after_batch

    def down(*args, **kwargs):
        raise RuntimeError("alerting is down")

    monkeypatch.setattr(quality, "after_batch", down)
    assert pipeline.process_batch(services, "b-sweep").status == "DONE"
    assert _counts(services, "b-sweep") == (1, 0, 0, 0, 1)  # finished without the step

    monkeypatch.setattr(quality, "after_batch", real)
    assert pipeline.sweep_after_batch(services) == 0  # too fresh: a worker may be on it
    with services.db.connection() as conn:
        conn.execute(
            "UPDATE ingest_batches SET processed_at = now() - interval '2 minutes' "
            "WHERE batch_id = 'b-sweep'"
        )
    assert pipeline.sweep_after_batch(services) == 1
    assert _counts(services, "b-sweep") == (1, 1, 1, 1, 1)
    assert pipeline.sweep_after_batch(services) == 0  # and only once
