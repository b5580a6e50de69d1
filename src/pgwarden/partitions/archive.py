"""Archive a partition to a file, check the file, and restore it.

Format: PostgreSQL's own COPY text output streamed through gzip, with a
JSON manifest beside it. COPY text is what the server itself reads back, so
every type (numeric, intervals, arrays, jsonb, timestamps) returns bit for bit
without a type mapping; it needs no extra dependency and streams in constant
memory. Rows end in a newline (newlines inside values are escaped), so the
file's row count is its line count. The manifest records the table, bounds,
rows, columns with types and the sha256 of the compressed file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from pgwarden.db.queries import Queries
from pgwarden.errors import ArchiveInvalid
from pgwarden.partitions import bounds, ddl

log = logging.getLogger(__name__)

FORMAT = "pgwarden-archive/1"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    path: Path  # the data file
    data: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.data["rows"])


def file_stem(schema: str, name: str) -> str:
    """A file name safe for any identifier (quotes, spaces, non-ASCII are percent-encoded)."""
    return quote(f"{schema}.{name}", safe="")


def manifest_path(data_file: Path) -> Path:
    return data_file.with_name(data_file.name.removesuffix(".copy.gz") + ".manifest.json")


def export(
    conn: psycopg.Connection,
    q: Queries,
    *,
    parent: tuple[str, str],
    partition: tuple[str, str],
    key_column: str,
    key_type: str,
    tz: ZoneInfo,
    lower: datetime,
    upper: datetime,
    directory: str | Path,
) -> Manifest:
    """Write the partition's rows and manifest, then re-read and check the file.

    Files are created 0600 and missing directories 0700: archived rows are
    table data, readable by the owner only.
    """
    directory = Path(directory)
    make_private_dirs(directory)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    data_file = directory / f"{file_stem(*partition)}.{stamp}.copy.gz"
    cols = conn.execute(
        q["columns_with_types"], {"schema_name": partition[0], "table_name": partition[1]}
    ).fetchall()
    names = [c[0] for c in cols]
    stmt = sql.SQL("COPY (SELECT {cols} FROM {t}) TO STDOUT").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in names), t=sql.Identifier(*partition)
    )
    rows = 0
    tmp = data_file.with_name(data_file.name + ".part")
    with (
        _private_open(tmp) as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        conn.cursor().copy(stmt) as copy,
    ):
        for chunk in copy:
            block = bytes(chunk)
            rows += block.count(b"\n")
            gz.write(block)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, data_file)
    digest = _sha256(data_file)
    data = {
        "format": FORMAT,
        "encoding": "PostgreSQL COPY text format, gzip",
        "parent": {"schema": parent[0], "name": parent[1]},
        "partition": {"schema": partition[0], "name": partition[1]},
        "key": {"column": key_column, "type": key_type},
        "timezone": tz.key,
        "lower": bounds.bound_literal(lower, key_type, tz),
        "upper": bounds.bound_literal(upper, key_type, tz),
        "rows": rows,
        "columns": [{"name": c[0], "type": c[1]} for c in cols],
        "sha256": digest,
        "bytes": data_file.stat().st_size,
        "created_at": datetime.now(UTC).isoformat(),
        "file": data_file.name,
    }
    mpath = manifest_path(data_file)
    mtmp = mpath.with_name(mpath.name + ".part")
    with _private_open(mtmp) as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
    os.replace(mtmp, mpath)
    manifest = verify(data_file)
    log.info(
        "archived %s.%s: %d rows to %s",
        *partition,
        rows,
        data_file,
        extra={"action": "partition_archive"},
    )
    return manifest


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents with mode 0700."""
    missing = []
    for d in [directory, *directory.parents]:
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
        d.chmod(0o700)  # mkdir's mode is filtered by the umask


def _private_open(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older .part file keeps its mode through O_TRUNC
    return os.fdopen(fd, "wb")


# gzip shrinks COPY text several times; a full table's size is a safe margin.
SPACE_MARGIN = 1.0  # x the table's on-disk size


def check_target(directory: str | Path, table_bytes: int) -> None:
    """Refuse, before anything is detached, an archive directory that cannot take the file.

    Raises ArchiveInvalid when the directory cannot be created, is not
    writable (tried with a real file), or its disk has less free space than
    the table's on-disk size.
    """
    directory = Path(directory)
    try:
        make_private_dirs(directory)
        probe = directory / f".pgwarden-write-test-{os.getpid()}"
        with _private_open(probe) as fh:
            fh.write(b"x")
        probe.unlink()
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        raise ArchiveInvalid(
            directory, f"archive directory is not writable: {exc.strerror or exc}; nothing detached"
        ) from exc
    need = int(table_bytes * SPACE_MARGIN)
    if free < need:
        raise ArchiveInvalid(
            directory,
            f"archive directory has {free} bytes free, the partition needs up to {need} bytes; "
            "nothing detached",
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def load_manifest(path: str | Path) -> Manifest:
    """Accept the data file or its manifest; return the manifest (not yet verified)."""
    p = Path(path)
    mpath = p if p.name.endswith(".manifest.json") else manifest_path(p)
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArchiveInvalid(path, f"no manifest {mpath.name} beside it") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ArchiveInvalid(path, f"manifest unreadable: {exc}") from exc
    if data.get("format") != FORMAT:
        raise ArchiveInvalid(path, f"unknown format {data.get('format')!r}; expected {FORMAT}")
    return Manifest(mpath.with_name(data["file"]), data)


def verify(path: str | Path) -> Manifest:
    """Re-read the data file: its sha256 and row count must match the manifest."""
    manifest = load_manifest(path)
    if not manifest.path.exists():
        raise ArchiveInvalid(manifest.path, "data file is missing")
    digest = _sha256(manifest.path)
    if digest != manifest.data["sha256"]:
        raise ArchiveInvalid(
            manifest.path,
            f"sha256 {digest} does not match the manifest's {manifest.data['sha256']}",
        )
    rows = 0
    try:
        with gzip.open(manifest.path, "rb") as gz:
            while block := gz.read(CHUNK):
                rows += block.count(b"\n")
    except (OSError, EOFError) as exc:
        raise ArchiveInvalid(manifest.path, f"cannot be decompressed: {exc}") from exc
    if rows != manifest.rows:
        raise ArchiveInvalid(
            manifest.path, f"holds {rows} rows but the manifest says {manifest.rows}"
        )
    return manifest


def copy_in(conn: psycopg.Connection, manifest: Manifest, target: sql.Identifier) -> None:
    """Stream the archived rows into `target` (a plain, not yet attached table)."""
    cols = [c["name"] for c in manifest.data["columns"]]
    stmt = sql.SQL("COPY {t} ({cols}) FROM STDIN").format(
        t=target, cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    )
    with gzip.open(manifest.path, "rb") as gz, conn.cursor().copy(stmt) as copy:
        while block := gz.read(CHUNK):
            copy.write(block)


def restore_statements(
    manifest: Manifest, child_name: str, columns_ok: bool = True
) -> dict[str, Any]:
    """What restore will do, for the dry run and for the run itself."""
    d = manifest.data
    tz = ZoneInfo(d["timezone"])
    key_type = d["key"]["type"]
    lower = bounds.parse_value(d["lower"], key_type, tz)
    upper = bounds.parse_value(d["upper"], key_type, tz)
    if lower is None or upper is None:
        raise ArchiveInvalid(manifest.path, "manifest bounds are unbounded")
    parent = ddl.ident(d["parent"]["schema"], d["parent"]["name"])
    child = ddl.ident(d["partition"]["schema"], child_name)
    return {
        "parent": parent,
        "child": child,
        "lower": lower,
        "upper": upper,
        "key_type": key_type,
        "key_column": d["key"]["column"],
        "tz": tz,
    }
