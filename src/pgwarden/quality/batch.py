"""Batches and their readers: everything a batch may arrive as, turned into one polars frame.

JSON-lines, JSON, CSV, Parquet and Arrow bytes go straight into polars' own
readers, so no Python dict is built per record. A list of dicts goes through
`pl.DataFrame` (the fastest of the paths measured in benchmarks/quality.py);
when its records disagree on a field's type, polars refuses them and the
batch is re-read as JSON lines, where such a field becomes text and the
disagreeing values surface as type mismatches instead of an exception.

Every refusal is a `BatchInvalid` naming the source, the field or position
and the value; `process_batch` records it as a REJECTED batch.
"""

from __future__ import annotations

import json
import logging
import mmap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pgwarden.quality.errors import BatchInvalid
from pgwarden.quality.model import BatchMetadata

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

FORMATS = ("ndjson", "json", "csv", "parquet", "arrow")
_ALIASES = {"jsonl": "ndjson", "ipc": "arrow", "feather": "arrow"}
_EXTENSIONS = {
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}
DEFAULT_MAX_VALUE_BYTES = 1_048_576


@dataclass(frozen=True)
class DataBatch:
    """One batch from a source. `records` is a list of dicts, bytes, a file path or a frame."""

    source: str
    records: Any
    id: str = field(default_factory=lambda: f"batch-{uuid.uuid4().hex[:16]}")
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: BatchMetadata | Mapping[str, Any] = field(default_factory=BatchMetadata)
    fmt: str | None = None  # None: guessed from bytes or the file name

    def meta(self) -> BatchMetadata:
        return parse_metadata(self.metadata)


def parse_metadata(raw: BatchMetadata | Mapping[str, Any] | None) -> BatchMetadata:
    """BatchMetadata from a mapping. Unreadable values are kept in extra['invalid'] so the
    metadata checks can report them, rather than failing the whole batch."""
    if isinstance(raw, BatchMetadata):
        return raw
    raw = dict(raw or {})
    invalid: dict[str, Any] = {}
    expected = raw.pop("expected_records", None)
    if expected is not None:
        if isinstance(expected, bool) or not isinstance(expected, int | float | str):
            invalid["expected_records"], expected = expected, None
        else:
            try:
                number = float(expected)
                if not number.is_integer():
                    raise ValueError
                expected = int(number)
            except ValueError:
                invalid["expected_records"], expected = expected, None
    fresh = raw.pop("data_freshness", None)
    if fresh is not None:
        parsed = to_utc(fresh)
        if parsed is None:
            invalid["data_freshness"] = fresh
        fresh = parsed
    source_system = raw.pop("source_system", None)
    stage = raw.pop("pipeline_stage", None)
    if invalid:
        raw["invalid"] = invalid
    return BatchMetadata(
        source_system=None if source_system is None else str(source_system),
        pipeline_stage=None if stage is None else str(stage),
        expected_records=expected,
        data_freshness=fresh,
        extra=raw,
    )


def metadata_to_json(meta: BatchMetadata) -> dict[str, Any]:
    return {
        "source_system": meta.source_system,
        "pipeline_stage": meta.pipeline_stage,
        "expected_records": meta.expected_records,
        "data_freshness": meta.data_freshness.isoformat() if meta.data_freshness else None,
        "extra": json.loads(json.dumps(meta.extra, default=str)),
    }


def metadata_from_json(doc: Mapping[str, Any]) -> BatchMetadata:
    fresh = doc.get("data_freshness")
    return BatchMetadata(
        source_system=doc.get("source_system"),
        pipeline_stage=doc.get("pipeline_stage"),
        expected_records=doc.get("expected_records"),
        data_freshness=to_utc(fresh) if fresh else None,
        extra=dict(doc.get("extra") or {}),
    )


def to_utc(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime or ISO text (naive means UTC); None if unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def guess_format(data: bytes, name: str | None = None) -> str:
    """The format of some bytes, from the file name or the first bytes."""
    if name:
        fmt = _EXTENSIONS.get(Path(name).suffix.lower())
        if fmt:
            return fmt
    head = data[:8]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    first = data[:4096].lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "ndjson"
    return "csv"


def canonical_format(fmt: str) -> str:
    """A format's own name for one of its aliases (jsonl: ndjson, ipc: arrow)."""
    return _ALIASES.get(fmt, fmt)


def read_batch(
    data: Any,
    fmt: str | None = None,
    *,
    source: str = "?",
    max_value_bytes: int | None = DEFAULT_MAX_VALUE_BYTES,
) -> pl.DataFrame:
    """A polars frame from a list of dicts, bytes, a path or a frame; raises BatchInvalid.

    Refused: anything that is not a table of records, broken JSON, bytes that
    are not UTF-8, an empty batch, a string value longer than `max_value_bytes`
    (None: not checked here; `check_batch` checks it in its own pass).
    """
    import polars as pl

    fmt = _ALIASES.get(fmt, fmt) if fmt is not None else None
    if fmt is not None and fmt not in FORMATS:
        raise BatchInvalid(source, "fmt", fmt, f"unknown format; expected one of {FORMATS}")
    if isinstance(data, pl.DataFrame):
        frame = data
    elif isinstance(data, list):
        frame = _from_records(data, source)
    elif isinstance(data, bytes | bytearray | memoryview):
        fmt = fmt or guess_format(bytes(data[:4096]))
        frame = _from_bytes(bytes(data), fmt, source)
    elif isinstance(data, str | Path):
        path = Path(data)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BatchInvalid(source, "path", str(path), f"cannot read: {exc.strerror}") from exc
        frame = _from_bytes(raw, fmt or guess_format(raw[:4096], path.name), source)
    else:
        raise BatchInvalid(
            source, None, type(data).__name__, "not a list of objects, bytes, a path or a frame"
        )
    if frame.height == 0:
        raise BatchInvalid(source, None, None, "empty batch: 0 records")
    if max_value_bytes is not None and not fits(data, max_value_bytes):
        check_value_sizes(frame, source, max_value_bytes)
    if may_hold_nul(data, fmt):
        refuse_nul(frame, source)
    return frame


NUL_REASON = "holds a NUL character (\\u0000), which PostgreSQL text cannot store"


# backslashes looked at one by one before the search for the whole escape takes over
NUL_ESCAPE_PROBES = 64


def may_hold_nul(data: Any, fmt: str | None = None) -> bool:
    """False when bytes cannot hold a NUL in a text value or name: JSON writes it
    \\u0000, CSV as the byte itself (scans of the bytes, no frame pass). Records,
    frames and files are checked on the frame. For JSON (`fmt` 'ndjson' or 'json')
    only the escape is looked for: a NUL byte is a control character JSON does not
    allow, which the parse has already refused (one scan of the batch less)."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = data if isinstance(data, bytes) else bytes(data)
        if fmt in ("ndjson", "json"):
            return _escapes_nul(raw)
        return b"\x00" in raw or _escapes_nul(raw)
    return True


def _escapes_nul(raw: bytes) -> bool:
    """Whether `raw` holds the text \\u0000. Searching for the six bytes reads the
    whole batch at a fraction of memchr's speed (70 ms for 165 MB against 4: the
    window's last byte, a 0, is everywhere in numbers and dates), which was a sixth of
    a 1 M-record check. A backslash is rare in JSON (escapes only), and finding each is
    memchr: only past NUL_ESCAPE_PROBES of them does the whole search run."""
    at = raw.find(b"\\")
    for _ in range(NUL_ESCAPE_PROBES):
        if at < 0:
            return False
        if raw.startswith(b"u0000", at + 1):
            return True
        at = raw.find(b"\\", at + 1)
    return at >= 0 and raw.find(b"\\u0000", at) >= 0


def refuse_nul(frame: pl.DataFrame, source: str) -> None:
    """Refuse a batch with a NUL character in a field name or a text value.

    PostgreSQL text cannot hold one: such a batch was accepted, then every
    attempt to store its result failed and the batch ended FAILED after its
    retries. Now it is REJECTED at once, naming the field and the value.
    """
    for name in frame.columns:
        if "\x00" in name:
            raise BatchInvalid(source, name, None, f"a field name that {NUL_REASON}")
    fields = string_fields(frame.schema)
    if not fields:
        return
    row = frame.select(
        [
            expr.str.contains("\x00", literal=True).any().alias(f"_{i}")
            for i, (_, expr) in enumerate(fields)
        ]
    ).row(0)
    for (name, expr), found in zip(fields, row, strict=True):
        if found:
            value = frame.select(
                expr.filter(expr.str.contains("\x00", literal=True)).first()
            ).item()
            raise BatchInvalid(source, name, value, f"a value that {NUL_REASON}")


def fits(data: Any, limit: int) -> bool:
    """True when `data` is bytes or a file no longer than `limit`: none of its values can
    be longer, and the size check is skipped (a pipeline batch of 500 records is about
    80 kB; the default limit is 1 MB)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data) <= limit
    if isinstance(data, str | Path):
        try:
            return Path(data).stat().st_size <= limit
        except OSError:
            return False
    return False


def ndjson_chunks(
    data: bytes | str | Path, chunk_bytes: int, *, source: str = "?"
) -> Iterator[pl.DataFrame]:
    """A JSON-lines batch (bytes or a file) as frames of about `chunk_bytes` of input each,
    cut at line ends, holding one chunk at a time.

    The first chunk's schema (inferred from its first 100 lines, as `read_batch`
    infers the whole batch's) is imposed on the rest, so each chunk reads as that
    part of the whole frame would. Raises what `read_batch` raises (BatchInvalid);
    a line past the first chunk that does not fit the schema raises
    `ChunkUnreadable` (the caller reads the batch whole, which names the line).
    """

    schema: Any = None
    for piece in _line_blocks(data, chunk_bytes):
        if not piece or piece.isspace():
            continue
        frame = _chunk_frame(piece, "ndjson", schema, source)
        schema = frame.schema if schema is None else schema
        yield frame
    if schema is None:
        raise BatchInvalid(source, None, None, "empty batch: 0 bytes")


def csv_chunks(
    data: bytes | str | Path, chunk_bytes: int, *, source: str = "?"
) -> Iterator[pl.DataFrame]:
    """A CSV batch (bytes or a file) as frames of about `chunk_bytes` of input each,
    holding one chunk at a time.

    Chunks are cut at line ends outside quotes (a quoted field may hold a line
    break; a doubled quote keeps the count even), each read with the header and
    the first chunk's schema (inferred from its first 10,000 rows, as
    `read_batch` infers the whole batch's). A file is mapped, not read: the
    kernel pages it in and out. Raises what `read_batch` raises; a chunk past
    the first that does not read with that schema raises `ChunkUnreadable`.
    """

    if isinstance(data, str | Path):
        with open(data, "rb") as fh:
            try:
                view: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                view = b""
    else:
        view = data if isinstance(data, bytes) else bytes(data)
    try:
        first_end = _csv_cut(view, 0, 1)
        header = bytes(view[:first_end])
        schema: Any = None
        start = first_end
        lines = 0  # lines before this chunk, past the header (for the line numbers)
        while start < len(view):
            end = _csv_cut(view, start, chunk_bytes)
            body = bytes(view[start:end])
            piece = header + body
            start = end
            if not body.strip():
                continue
            _check_csv_rows(piece, source, skipped=lines)
            lines += body.count(b"\n")
            frame = _chunk_frame(piece, "csv", schema, source)
            schema = frame.schema if schema is None else schema
            del body, piece
            if isinstance(view, mmap.mmap):
                # the pages read so far leave this process (they stay in the page
                # cache): a mapped file's pages count in its resident memory
                view.madvise(mmap.MADV_DONTNEED, 0, start - start % mmap.PAGESIZE)
            yield frame
        if schema is None:
            raise BatchInvalid(source, None, None, "empty batch: 0 records")
    finally:
        if isinstance(view, mmap.mmap):
            view.close()


def _csv_cut(view: Any, start: int, size: int) -> int:
    """The end of the line at or after start + size that is outside quotes (or the end)."""
    cut = view.find(b"\n", max(start, min(start + size, len(view)) - 1))
    # (slices, not count(sub, start, end): a mapped file has find but no count)
    quotes = view[start:cut].count(b'"') if cut >= 0 else 0
    while cut >= 0 and quotes % 2:
        nxt = view.find(b"\n", cut + 1)
        if nxt < 0:
            return len(view)
        quotes += view[cut:nxt].count(b'"')
        cut = nxt
    return len(view) if cut < 0 else cut + 1


def _chunk_frame(piece: bytes, fmt: str, schema: Any, source: str) -> pl.DataFrame:
    """One chunk of a JSON-lines or CSV batch read. The first (`schema` None) infers
    the schema, its errors named as `read_batch` names them; a later one must read
    with that schema, else `ChunkUnreadable` (the caller reads the batch whole). A
    NUL character refuses the batch."""
    import polars as pl

    if schema is None:
        try:
            if fmt == "ndjson":
                frame = pl.read_ndjson(piece)
            else:
                frame = pl.read_csv(piece, infer_schema_length=10_000)
        except pl.exceptions.SchemaError as exc:
            if fmt == "ndjson":  # lines of mixed types: read whole
                raise ChunkUnreadable(str(exc)) from exc
            raise _explain(piece, fmt, source, exc) from exc
        except Exception as exc:
            raise _explain(piece, fmt, source, exc) from exc
    else:
        try:
            if fmt == "ndjson":
                frame = pl.read_ndjson(piece, schema=schema)
            else:
                frame = pl.read_csv(piece, schema=schema)
        except Exception as exc:
            raise ChunkUnreadable(str(exc)) from exc
    if may_hold_nul(piece, fmt):
        refuse_nul(frame, source)
    return frame


class ChunkUnreadable(Exception):
    """A chunk past the first did not read with the first chunk's schema."""


def _line_blocks(data: bytes | str | Path, size: int) -> Iterator[bytes]:
    """Blocks of about `size` bytes, each ending at a line end (the last: at the end).

    A file is read one block at a time, each block read once at its exact length
    (its end found first with a small read), so no block is copied to be cut.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        view = data if isinstance(data, bytes) else bytes(data)
        start = 0
        while start < len(view):
            end = min(start + size, len(view))
            if end < len(view):
                cut = view.find(b"\n", end)
                end = len(view) if cut < 0 else cut + 1
            yield view[start:end]
            start = end
        return
    with open(data, "rb") as fh:
        start = 0
        while True:
            fh.seek(start + size)
            end = start + size
            while True:  # the end of the line the block's end falls in
                probe = fh.read(65_536)
                cut = probe.find(b"\n")
                if cut >= 0:
                    end += cut + 1
                    break
                end += len(probe)
                if len(probe) < 65_536:
                    break
            fh.seek(start)
            block = fh.read(end - start)
            if not block:
                return
            yield block
            start += len(block)


def input_size(data: Any, frame: pl.DataFrame | None) -> int:
    """Bytes of input for MB/s: the raw bytes when given, else the frame's size."""
    if isinstance(data, bytes | bytearray | memoryview):
        return len(data)
    if isinstance(data, str | Path):
        try:
            return Path(data).stat().st_size
        except OSError:
            pass
    return int(frame.estimated_size()) if frame is not None else 0


def check_value_sizes(frame: pl.DataFrame, source: str, limit: int) -> None:
    """Refuse a batch holding a string longer than `limit` bytes (one cheap max per column)."""
    fields = string_fields(frame.schema)
    if not fields:
        return
    row = frame.select(
        [expr.str.len_bytes().max().alias(f"_{i}") for i, (_, expr) in enumerate(fields)]
    ).row(0)
    for (name, expr), longest in zip(fields, row, strict=True):
        if longest is not None and longest > limit:
            refuse_long_value(frame, source, name, expr, longest, limit)


def string_fields(schema: Mapping[str, pl.DataType]) -> list[tuple[str, pl.Expr]]:
    """The text columns of a schema, and the text fields of its struct columns."""
    import polars as pl

    out: list[tuple[str, pl.Expr]] = []
    for name, dtype in schema.items():
        if dtype == pl.String:
            out.append((name, pl.col(name)))
        elif isinstance(dtype, pl.Struct):
            for fld in dtype.fields:
                if fld.dtype == pl.String:
                    out.append((f"{name}.{fld.name}", pl.col(name).struct.field(fld.name)))
    return out


def refuse_long_value(
    frame: pl.DataFrame, source: str, name: str, expr: pl.Expr, longest: int, limit: int
) -> NoReturn:
    """Raise the BatchInvalid of a value longer than `limit`, showing the first one."""
    value = frame.select(expr.filter(expr.str.len_bytes() > limit).first()).item()
    raise BatchInvalid(
        source,
        name,
        value,
        f"a {longest:,}-byte string; the limit is {limit:,} bytes "
        "(runtime key quality.max_value_bytes)",
    )


def _from_records(records: list[Any], source: str) -> pl.DataFrame:
    import polars as pl

    if not records:
        raise BatchInvalid(source, None, None, "empty batch: 0 records")
    if not isinstance(records[0], Mapping):
        raise BatchInvalid(source, "records[0]", records[0], "not a list of objects")
    try:
        return pl.DataFrame(records)
    except TypeError as exc:
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise BatchInvalid(source, f"records[{i}]", rec, "not a list of objects") from exc
        raise BatchInvalid(source, None, None, f"records not readable: {exc}") from exc
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OverflowError, ValueError):
        log.debug("mixed types in records of %s; building columns one by one", source)
        return _mixed_records(records)


def _mixed_records(records: list[Any]) -> pl.DataFrame:
    """Records that disagree on a field's type: such a field becomes text (JSON for
    nested values, as polars' JSON-lines reader does), so its odd values surface as
    type mismatches with their record ids instead of failing the batch."""
    import polars as pl

    keys: dict[str, None] = {}
    for rec in records:
        keys.update(dict.fromkeys(rec))
    columns = []
    for key in keys:
        values = [rec.get(key) for rec in records]
        try:
            columns.append(pl.Series(key, values))
        except Exception:
            text = [
                None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                for v in values
            ]
            columns.append(pl.Series(key, text, dtype=pl.String))
    return pl.DataFrame(columns)


def _from_bytes(data: bytes, fmt: str, source: str) -> pl.DataFrame:
    import polars as pl

    if not data or data.isspace():  # (strip() would copy the batch)
        raise BatchInvalid(source, None, None, "empty batch: 0 bytes")
    try:
        if fmt == "ndjson":
            try:
                return pl.read_ndjson(data)
            except pl.exceptions.SchemaError:
                # Lines disagree on a nested field's type: read them one by one.
                lines = [json.loads(line) for line in data.splitlines() if line.strip()]
                if not all(isinstance(line, dict) for line in lines):
                    raise
                return _mixed_records(lines)
        if fmt == "json":
            return _read_json(data, source)
        if fmt == "csv":
            _check_csv_rows(data, source)
            return pl.read_csv(data, infer_schema_length=10_000)
        if fmt == "parquet":
            return pl.read_parquet(data)
        if fmt == "arrow":
            return _read_arrow(data)
    except BatchInvalid:
        raise
    except Exception as exc:
        raise _explain(data, fmt, source, exc) from exc
    raise BatchInvalid(source, "fmt", fmt, f"cannot read bytes as {fmt}")


def _check_csv_rows(data: bytes, source: str, *, skipped: int = 0) -> None:
    """Every row has the header's number of fields; else name the first line that has not
    (polars pads or fails without saying where). `skipped`: lines of the batch between
    the header and `data`'s first row (a chunk's line numbers are the batch's)."""
    import csv
    import io

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # _explain names the byte
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        for row in reader:
            if row and len(row) != len(header):
                raise BatchInvalid(
                    source,
                    f"line {reader.line_num + skipped}",
                    ",".join(row)[:80],
                    f"{len(row)} fields where the header has {len(header)}",
                )
    except csv.Error as exc:
        raise BatchInvalid(
            source, f"line {reader.line_num + skipped}", None, f"broken CSV: {exc}"
        ) from exc


def _read_json(data: bytes, source: str) -> pl.DataFrame:
    import polars as pl

    first = data.lstrip()[:1]
    if first == b"{":
        # One object: either a record, or {"records": [...]} as the HTTP API sends.
        doc = json.loads(data)
        if isinstance(doc.get("records"), list):
            return _from_records(doc["records"], source)
        return pl.DataFrame([doc])
    if first != b"[":
        raise BatchInvalid(source, None, data[:40], "JSON batch is not a list of objects")
    return pl.read_json(data)


def _read_arrow(data: bytes) -> pl.DataFrame:
    import io

    import polars as pl

    if data.startswith(b"ARROW1"):
        return pl.read_ipc(io.BytesIO(data))
    return pl.read_ipc_stream(io.BytesIO(data))


def _explain(data: bytes, fmt: str, source: str, exc: Exception) -> BatchInvalid:
    """Turn a reader's error into one that names the line and shows the value."""
    if fmt in ("ndjson", "json", "csv"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            line = data.count(b"\n", 0, bad.start) + 1
            return BatchInvalid(
                source,
                f"byte {bad.start} (line {line})",
                data[max(0, bad.start - 10) : bad.start + 10],
                "not UTF-8 text",
            )
    if fmt == "ndjson":
        for number, text in enumerate(data.splitlines(), start=1):
            if not text.strip():
                continue
            try:
                doc = json.loads(text)
            except ValueError as bad:
                return BatchInvalid(source, f"line {number}", text[:80], f"broken JSON: {bad}")
            if not isinstance(doc, dict):
                return BatchInvalid(source, f"line {number}", text[:80], "not a JSON object")
    if fmt == "json":
        try:
            doc = json.loads(data)
        except ValueError as bad:
            return BatchInvalid(source, None, data[:80], f"broken JSON: {bad}")
        if not isinstance(doc, list) or not all(isinstance(d, dict) for d in doc):
            return BatchInvalid(source, None, data[:80], "JSON batch is not a list of objects")
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BatchInvalid(source, None, None, f"cannot read the batch as {fmt}: {reason}")
