"""Ingest: accept a batch from any source and queue it, atomically, for processing.

The batch row and its processing job are written in one transaction, so a
batch is never stored without a job nor queued without its data. Jobs of one
source share a procrastinate lock: a source's batches are processed one at a
time and in order (anomaly baselines and cross-batch uniqueness rely on it),
while different sources run in parallel on every worker.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.db.queries import Queries
from pgwarden.errors import InputInvalid
from pgwarden.services import Services

SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BATCH_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
FORMATS = ("json", "jsonl", "csv", "parquet", "arrow")
QUEUE_PIPELINE = "pipeline"
PROCESS_TASK = "pgwarden.pipeline.process_batch"
METADATA_FIELDS = ("source_system", "pipeline_stage", "expected_records", "data_freshness")
# Deeper records are refused at the door: PostgreSQL's jsonb and the quality
# engine were seen to fail on them after the batch had been accepted.
MAX_DEPTH = 32  # levels of objects and lists inside one record


BATCH_COLUMNS = (
    "batch_id",
    "source",
    "channel",
    "received_at",
    "format",
    "payload_bytes",
    "metadata",
    "status",
    "attempts",
    "records",
    "quality_level",
    "quality_overall",
    "reject_reason",
    "error",
    "cycle_id",
    "models_ok",
    "models_failed",
    "started_at",
    "processed_at",
    "duration_seconds",
)


@dataclass(frozen=True)
class Ingested:
    batch_id: str
    source: str
    received_at: datetime
    duplicate: bool  # the batch id was already known; nothing new was queued


def check_source(source: object) -> str:
    if not isinstance(source, str) or not SOURCE_NAME.match(source):
        raise InputInvalid("source", source, "must be 1-64 letters, digits, '_', '.' or '-'")
    return source


def check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InputInvalid("metadata", metadata, "must be a JSON object")
    expected = metadata.get("expected_records")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise InputInvalid("metadata.expected_records", expected, "must be a whole number")
    fresh = metadata.get("data_freshness")
    if fresh is not None:
        try:
            datetime.fromisoformat(str(fresh).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputInvalid(
                "metadata.data_freshness", fresh, "must be an ISO 8601 timestamp"
            ) from exc
    check_values(metadata, "metadata")  # stored as jsonb: no NUL, NaN or deep nesting
    return metadata


def loads(text: str, field: str = "body") -> Any:
    """json.loads that turns the parser's limits into InputInvalid naming `field`.

    json.JSONDecodeError (broken JSON) is left to the caller, which knows the line.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise InputInvalid(
            field, "nesting deeper than the parser allows", f"too deep: at most {MAX_DEPTH} levels"
        ) from exc
    except ValueError as exc:  # Python refuses integers of more than 4300 digits
        raise InputInvalid(
            field, "an integer of more than 4300 digits", f"a number too long to store: {exc}"
        ) from exc


def check_values(record: Any, field: str) -> None:
    """What PostgreSQL and the quality engine cannot take, refused before a batch is queued:
    nesting deeper than MAX_DEPTH, the NUL character in a key or a string, and
    NaN / Infinity (not JSON numbers; jsonb refuses them)."""
    stack: list[tuple[str, Any, int]] = [(field, record, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise InputInvalid(
                    field, f"nesting depth {depth + 1}", f"too deep: at most {MAX_DEPTH} levels"
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and "\x00" in k:
                    raise InputInvalid(
                        field,
                        k.replace("\x00", "\\u0000"),
                        "a key holds the NUL character \\u0000, which PostgreSQL cannot store",
                    )
                sub = f"{path}[{k}]" if isinstance(value, list) else f"{path}.{k}"
                stack.append((sub, v, depth + 1))
        elif isinstance(value, str) and "\x00" in value:
            raise InputInvalid(
                path,
                value.replace("\x00", "\\u0000")[:80],
                "the NUL character \\u0000 cannot be stored",
            )
        elif isinstance(value, float) and not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            raise InputInvalid(path, shown, "NaN and Infinity are not JSON numbers")


def check_jsonl(body: bytes) -> bytes:
    """JSON lines, each an object that passes check_values; returns the stripped body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputInvalid("body", f"byte {exc.start}", "is not UTF-8") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field = f"line {number}"
        try:
            value = loads(line, field)
        except json.JSONDecodeError as exc:
            raise InputInvalid(field, line[:80], f"broken JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise InputInvalid(field, value, "each line must be a JSON object")
        check_values(value, field)
    return body.strip()


def check_payload(payload: bytes, fmt: str) -> None:
    """JSON and JSON-lines payloads pass the same door as the API's bodies."""
    if fmt == "jsonl":
        check_jsonl(payload)
    elif fmt == "json":
        try:
            doc = loads(payload.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputInvalid("body", f"byte {exc.start}", "is not UTF-8") from exc
        except json.JSONDecodeError as exc:
            shown = payload[exc.pos : exc.pos + 40].decode("utf-8", "replace")
            raise InputInvalid("body", shown, f"broken JSON: {exc.msg}") from exc
        records = doc.get("records") if isinstance(doc, dict) else doc
        encode_records(records if isinstance(records, list) else [doc])


def encode_records(records: list[Any]) -> bytes:
    """A list of records as JSON lines (the stored form of JSON input)."""
    if not isinstance(records, list):
        raise InputInvalid("records", type(records).__name__, "must be a list of objects")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputInvalid(f"records[{i}]", rec, "must be a JSON object")
        check_values(rec, f"records[{i}]")
    return "\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()


def ingest(
    services: Services,
    source: str,
    payload: bytes,
    *,
    fmt: str = "jsonl",
    metadata: dict[str, Any] | None = None,
    channel: str = "api",
    batch_id: str | None = None,
    received_at: datetime | None = None,
    conn: psycopg.Connection | None = None,
) -> Ingested:
    """Store a batch and queue its processing; idempotent on batch_id."""
    check_source(source)
    meta = check_metadata(metadata)
    if fmt not in FORMATS:
        raise InputInvalid("format", fmt, f"must be one of {', '.join(FORMATS)}")
    if batch_id is not None and (not isinstance(batch_id, str) or not BATCH_ID.match(batch_id)):
        raise InputInvalid("batch_id", batch_id, "must be 1-128 of A-Z a-z 0-9 _ . : -")
    if not payload:
        raise InputInvalid("records", "", "the batch is empty")
    batch_id = batch_id or uuid.uuid4().hex
    received_at = received_at or datetime.now(UTC)
    q = Queries("pgwarden.service", services.db.schema)
    params = {
        "batch_id": batch_id,
        "source": source,
        "channel": channel,
        "received_at": received_at,
        "format": fmt,
        "payload": payload,
        "payload_bytes": len(payload),
        "metadata": Jsonb(meta),
    }
    if conn is not None:
        inserted = _insert_and_enqueue(conn, q, params)
    else:
        with services.db.connection() as own, own.transaction():
            inserted = _insert_and_enqueue(own, q, params)
    return Ingested(batch_id, source, received_at, duplicate=not inserted)


def _insert_and_enqueue(conn: psycopg.Connection, q: Queries, params: dict[str, Any]) -> bool:
    row = conn.execute(q["insert_batch"], params).fetchone()
    if row is None:
        return False
    conn.execute(
        q["enqueue_process"],
        {
            "queue": QUEUE_PIPELINE,
            "task": PROCESS_TASK,
            "lock": f"source:{params['source']}",
            "args": json.dumps({"batch_id": params["batch_id"]}),
        },
    )
    return True


def batch_records(
    services: Services,
    *,
    source: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Processing records of the latest batches, newest first, as dicts."""
    q = Queries("pgwarden.service", services.db.schema)
    params = {"source": source, "status": status, "since": since, "limit": limit}
    with services.db.connection() as conn:
        rows = conn.execute(q["list_batches"], params).fetchall()
    return [dict(zip(BATCH_COLUMNS, r, strict=True)) for r in rows]


def batch_record(services: Services, batch_id: str) -> dict[str, Any] | None:
    """One batch's processing record, or None."""
    q = Queries("pgwarden.service", services.db.schema)
    with services.db.connection() as conn:
        row = conn.execute(q["get_batch"], {"batch_id": batch_id}).fetchone()
    return None if row is None else dict(zip(BATCH_COLUMNS, row, strict=True))
