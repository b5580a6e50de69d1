"""Sources that are polled: an inbox table and a watched folder.

Inbox: rows inserted into `<schema>.ingest_inbox (source, record jsonb)` are
claimed with FOR UPDATE SKIP LOCKED, so several workers share the table and
each row lands in exactly one batch; the claim and the new batch (with its
job) commit together.

Folder: files dropped into `<watch_dir>/<source>/` (jsonl, json, csv,
parquet, arrow) are claimed by an atomic rename into `processing/`, ingested,
and moved to `done/` or `failed/` (with a `.error.txt` beside it).
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from pgwarden.db.queries import Queries
from pgwarden.errors import PgwardenError
from pgwarden.service.ingest import SOURCE_NAME, encode_records, ingest
from pgwarden.services import Services

log = logging.getLogger(__name__)

SUFFIX_FORMAT = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".ipc": "arrow",
}
WORK_DIRS = ("processing", "done", "failed")


def poll_inbox(services: Services) -> list[str]:
    """Claim pending inbox rows into batches (one per source per call); returns batch ids."""
    q = Queries("pgwarden.service", services.db.schema)
    size = int(services.config.get("sources.inbox_batch_size"))
    made: list[str] = []
    with services.db.connection() as conn:
        sources = [r[0] for r in conn.execute(q["inbox_sources"]).fetchall()]
    for source in sources:
        if not SOURCE_NAME.match(source):
            log.warning("inbox rows with invalid source %r are left unclaimed", source)
            continue
        batch_id = uuid.uuid4().hex
        with services.db.connection() as conn, conn.transaction():
            rows = conn.execute(
                q["claim_inbox"], {"source": source, "limit": size, "batch_id": batch_id}
            ).fetchall()
            if not rows:
                continue
            records = [r[1] for r in sorted(rows)]
            ingest(
                services,
                source,
                encode_records(records),
                fmt="jsonl",
                channel="table",
                batch_id=batch_id,
                conn=conn,
            )
        made.append(batch_id)
    return made


def poll_folder(services: Services, root: Path | None = None) -> list[str]:
    """Ingest files dropped into the watched folder; returns batch ids."""
    folder = root or Path(str(services.config.get("sources.watch_dir") or ""))
    if not str(folder) or str(folder) == "." or not folder.is_dir():
        return []
    made: list[str] = []
    for source_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        source = source_dir.name
        if source in WORK_DIRS or not SOURCE_NAME.match(source):
            continue
        for path in sorted(p for p in source_dir.iterdir() if p.is_file()):
            fmt = SUFFIX_FORMAT.get(path.suffix.lower())
            if fmt is None or path.name.startswith("."):
                continue
            batch_id = _ingest_file(services, source_dir, path, source, fmt)
            if batch_id:
                made.append(batch_id)
    return made


def _ingest_file(
    services: Services, source_dir: Path, path: Path, source: str, fmt: str
) -> str | None:
    for name in WORK_DIRS:
        (source_dir / name).mkdir(exist_ok=True)
    claimed = source_dir / "processing" / path.name
    try:
        os.rename(path, claimed)  # atomic: another worker that lost the race gets ENOENT
    except FileNotFoundError:
        return None
    batch_id = uuid.uuid4().hex
    try:
        payload = claimed.read_bytes()
        # Parse once here so a malformed file goes to failed/ with the reason,
        # instead of becoming a batch that is rejected later.
        from pgwarden.quality import read_batch

        read_batch(payload, fmt, source=source)
        ingest(
            services,
            source,
            payload,
            fmt=fmt,
            channel="folder",
            batch_id=batch_id,
        )
    except (PgwardenError, OSError) as exc:
        failed = source_dir / "failed" / path.name
        os.replace(claimed, failed)
        failed.with_name(failed.name + ".error.txt").write_text(f"{exc}\n")
        log.warning("file %s rejected: %s", path, exc, extra={"action": "folder_rejected"})
        return None
    os.replace(claimed, source_dir / "done" / path.name)
    return batch_id
