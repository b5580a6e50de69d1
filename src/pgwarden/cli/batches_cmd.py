"""`pgwarden batches ...`: queue batches from files, and look at what became of them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

import typer

from pgwarden.cli import tables
from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.errors import InputInvalid

app = typer.Typer(help="Batches: ingest from files, list, show.", no_args_is_help=True)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    file = Path(path)
    if not file.is_file():
        raise InputInvalid("FILE", path, "no such file")
    return file.read_bytes()


@app.command()
def ingest(
    file: str = typer.Argument(..., help="a batch file, or - for standard input"),
    source: str = typer.Option(..., "--source", "-s"),
    batch_id: str | None = typer.Option(None, "--batch-id", help="re-ingesting an id is a no-op"),
    fmt: str | None = typer.Option(None, "--format", help="jsonl, json, csv, parquet, arrow"),
    metadata: str | None = typer.Option(None, help="batch metadata as a JSON object"),
) -> None:
    """Queue one batch for processing by the workers.

    The batch is read as the worker will read it first: a file that could never
    be processed (binary, broken JSON, a ragged CSV) exits 1 and queues nothing.
    """
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.quality.batch import read_batch
    from pgwarden.service.ingest import check_payload
    from pgwarden.service.ingest import ingest as do_ingest
    from pgwarden.service.sources import SUFFIX_FORMAT

    payload = _read(file)
    fmt = fmt or SUFFIX_FORMAT.get(Path(file).suffix.lower(), "jsonl")
    try:
        meta = json.loads(metadata) if metadata else None
    except json.JSONDecodeError as exc:
        raise InputInvalid("--metadata", metadata, f"broken JSON: {exc.msg}") from exc
    check_payload(payload, fmt)
    read_batch(payload, fmt, source=source)
    with open_services() as svc:
        done = do_ingest(
            svc, source, payload, fmt=fmt, metadata=meta, channel="api", batch_id=batch_id
        )
    out.print(f"{done.batch_id} {'already known' if done.duplicate else 'queued'}")


@app.command("ingest-many")
def ingest_many(
    file: str = typer.Argument(..., help='JSON lines: {"source", "records", ...} per batch'),
) -> None:
    """Queue many batches at once, one JSON object per line, in one transaction."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.service.ingest import encode_records
    from pgwarden.service.ingest import ingest as do_ingest

    lines = [ln for ln in _read(file).decode().splitlines() if ln.strip()]
    with open_services() as svc, svc.db.connection() as conn, conn.transaction():
        for number, line in enumerate(lines, start=1):
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputInvalid(f"line {number}", line[:60], f"broken JSON: {exc.msg}") from exc
            if not isinstance(doc, dict):
                raise InputInvalid(f"line {number}", line[:60], "each line must be a JSON object")
            do_ingest(
                svc,
                cast(Any, doc.get("source")),
                encode_records(cast(Any, doc.get("records"))),
                metadata=doc.get("metadata"),
                batch_id=doc.get("batch_id"),
                channel="api",
                conn=conn,
            )
    out.print(f"queued {len(lines)} batches")


@app.command("list")
def list_cmd(
    source: str | None = None,
    status: str | None = None,
    limit: int = typer.Option(20, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The latest batches and their outcome."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.service.ingest import batch_records

    with open_services() as svc:
        items = batch_records(svc, source=source, status=status, limit=limit)
    if as_json:
        print_json(items)
        return
    rows = [
        [
            b["batch_id"],
            b["source"],
            str(b["received_at"])[:19],
            b["status"],
            str(b["records"] or ""),
            b["quality_level"] or "",
            f"{b['quality_overall']:.3f}" if b["quality_overall"] is not None else "",
            b["reject_reason"] or b["error"] or "",
        ]
        for b in items
    ]
    columns = [
        tables.Column("batch", "id"),
        tables.Column("source", "id"),
        tables.Column("received"),
        tables.Column("status"),
        tables.Column("records", "num"),
        tables.Column("level"),
        tables.Column("quality", "num"),
        tables.Column("reason"),
    ]
    out.print(tables.table(columns, rows, console=out, note=err))
