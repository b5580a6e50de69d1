"""CLI tables at 80 columns, what a pipe gets: ids whole, wide columns out, records vertical."""

import io

from rich.console import Console

from pgwarden.cli import tables

MODEL = "demo.missing_timestamp_detector"
BATCH = "batch_7f3e2a91-4c0d-4b8e-9a51-0c2f6e8d1b77"


def render(renderable, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(renderable)
    return buf.getvalue()


def test_ids_are_never_cut_and_wide_columns_leave_at_80():
    columns = [
        tables.Column("model", "id"), tables.Column("version", "id"), tables.Column("role"),
        tables.Column("status"), tables.Column("entrypoint", "wide"),
        tables.Column("reads", "wide"),
    ]  # fmt: skip
    entry = "pgwarden.demo.models:MissingTimestampDetector"
    rows = [[MODEL, "1.0.0", "PRIMARY", "ACTIVE", entry, "events<-demo.ingest_counter"]]
    note = io.StringIO()
    narrow = Console(file=io.StringIO(), width=80)
    text = render(tables.table(columns, rows, console=narrow,
                               note=Console(file=note, width=200)), 80)  # fmt: skip
    assert MODEL in text and "1.0.0" in text
    assert "…" not in text  # no header or value cut to three letters
    assert "entrypoint" not in text and "pgwarden.demo.models" not in text
    assert "entrypoint, reads left out at 80 columns" in note.getvalue()
    wide = Console(file=io.StringIO(), width=200)
    text = render(tables.table(columns, rows, console=wide), 200)
    assert "pgwarden.demo.models:MissingTimestampDetector" in text and "entrypoint" in text


def test_a_long_reason_wraps_but_the_batch_id_stays_whole():
    columns = [tables.Column("batch", "id"), tables.Column("source", "id"),
               tables.Column("records", "num"), tables.Column("reason")]  # fmt: skip
    rows = [[BATCH, "transaction_logs", "1,200", "broken JSON at byte 10 " * 4]]
    console = Console(file=io.StringIO(), width=80)
    text = render(tables.table(columns, rows, console=console), 80)
    assert BATCH in text and "transaction_logs" in text and "…" not in text


def test_one_record_reads_vertically():
    text = render(tables.record([("batch", BATCH), ("source", "user_events"),
                                 ("level", "EXCELLENT")]), 80)  # fmt: skip
    lines = [line.rstrip() for line in text.splitlines()]
    assert any(line.startswith("batch") and line.endswith(BATCH) for line in lines)
    assert any(line.startswith("level") and "EXCELLENT" in line for line in lines)
