import json

import pytest

from pgwarden.errors import InputInvalid
from pgwarden.service.ingest import PROCESS_TASK, ingest
from pgwarden.service.sources import poll_folder, poll_inbox


def jobs(conn):
    return conn.execute(
        "SELECT task_name, args, lock, queue_name FROM procrastinate_jobs ORDER BY id"
    ).fetchall()


def test_a_batch_and_its_job_are_stored_together_and_idempotently(services, conn):
    first = ingest(services, "user_events", b'{"id": 1}', batch_id="b-1", metadata={})
    again = ingest(services, "user_events", b'{"id": 1}', batch_id="b-1", metadata={})
    assert not first.duplicate and again.duplicate
    (job,) = jobs(conn)
    assert job == (PROCESS_TASK, {"batch_id": "b-1"}, "source:user_events", "pipeline")
    row = conn.execute("SELECT status, payload_bytes FROM ingest_batches").fetchone()
    assert row == ("PENDING", 9)


def test_bad_input_writes_nothing(services, conn):
    for kwargs in (
        {"source": "no spaces allowed", "payload": b"{}"},
        {"source": "s", "payload": b""},
        {"source": "s", "payload": b"{}", "fmt": "xml"},
        {"source": "s", "payload": b"{}", "metadata": {"expected_records": 1.5}},
    ):
        with pytest.raises(InputInvalid):
            ingest(services, **kwargs)
    assert conn.execute("SELECT count(*) FROM ingest_batches").fetchone() == (0,)
    assert jobs(conn) == []


def test_inbox_rows_are_claimed_once_into_batches(services, conn):
    services.config.set("sources.inbox_batch_size", 3)
    conn.execute(
        "INSERT INTO ingest_inbox (source, record) SELECT 'api_calls', jsonb_build_object('id', g) "
        "FROM generate_series(1, 7) g"
    )
    conn.commit()
    made = poll_inbox(services) + poll_inbox(services) + poll_inbox(services) + poll_inbox(services)
    assert len(made) == 3  # 3 + 3 + 1 rows, then nothing left
    claimed = conn.execute(
        "SELECT batch_id, count(*) FROM ingest_inbox GROUP BY batch_id ORDER BY 2 DESC"
    ).fetchall()
    assert [c for _, c in claimed] == [3, 3, 1] and all(b for b, _ in claimed)
    payloads = conn.execute("SELECT payload FROM ingest_batches").fetchall()
    ids = sorted(json.loads(line)["id"] for (p,) in payloads for line in bytes(p).splitlines())
    assert ids == list(range(1, 8))


def test_dropped_files_become_batches_and_move_to_done_or_failed(services, conn, tmp_path):
    src = tmp_path / "system_metrics"
    src.mkdir()
    (src / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    (src / "empty.jsonl").write_text("")
    (src / "broken.jsonl").write_text('{"id": 1}\n{"id": \n')
    (src / "notes.txt").write_text("ignored")
    made = poll_folder(services, tmp_path)
    assert len(made) == 1
    assert (src / "done" / "a.jsonl").exists()
    assert (src / "failed" / "empty.jsonl").exists()
    assert "empty" in (src / "failed" / "empty.jsonl.error.txt").read_text()
    assert (src / "failed" / "broken.jsonl").exists()
    assert "broken.jsonl.error.txt" in {p.name for p in (src / "failed").iterdir()}
    assert (src / "notes.txt").exists()
    assert conn.execute("SELECT source, channel FROM ingest_batches").fetchall() == [
        ("system_metrics", "folder")
    ]
