"""`store_batch`: check and store one batch, once per batch id.

Order of work, and why:

1. The batch is read (unless the caller already did), outside any
   transaction.
2. One round trip (`store.look_up`) asks whether the id is stored, which of
   its ids were seen in their windows, and the source's learned schema. A
   stored batch id returns the stored result at once (a retried job does no
   work twice, and says so: `Stored.new` is False).
3. The batch is checked, in memory.
4. The batch row, its violations, its ids and the learned schema are written
   by one statement in one transaction under an advisory lock on the batch
   id (`store.write_result`), so two workers racing on one id store it once.

What follows a stored batch (anomalies, alerts, models) is the pipeline's
(`pgwarden.service.pipeline`), which calls `hooks.after_batch` next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from pgwarden.quality.batch import DataBatch, read_batch
from pgwarden.quality.check import CheckOptions, check_batch, chunked, rejected
from pgwarden.quality.errors import BatchInvalid
from pgwarden.quality.evaluator import CheckContext
from pgwarden.quality.fields import resolve
from pgwarden.quality.model import BatchResult
from pgwarden.quality.rules import RuleSet
from pgwarden.quality.rulestore import get_rules
from pgwarden.quality.scoring import Levels
from pgwarden.quality.store import look_up, queries, read_batch_result, write_result

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)


def options_from_config(config: Any) -> CheckOptions:
    """CheckOptions from the runtime keys (bad level order falls back to the defaults)."""
    try:
        levels = Levels(
            excellent=config.get("quality.level_excellent"),
            good=config.get("quality.level_good"),
            acceptable=config.get("quality.level_acceptable"),
            poor=config.get("quality.level_poor"),
        )
    except ValueError as exc:
        log.warning("%s; using the default levels", exc, extra={"action": "quality_levels"})
        levels = Levels()
    return CheckOptions(
        levels=levels,
        sample_size=config.get("quality.sample_ids"),
        max_value_bytes=config.get("quality.max_value_bytes"),
        metadata_max_age=config.get("quality.metadata_max_age"),
        expected_records_max=config.get("quality.expected_records_max"),
        max_memory_mb=config.get("quality.max_memory_mb"),
    )


def make_batch(
    *,
    source: str,
    data: Any,
    batch_id: str | None = None,
    received_at: datetime | None = None,
    fmt: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> DataBatch:
    """A DataBatch from loose arguments (what the service's ingest holds)."""
    kwargs: dict[str, Any] = {"source": source, "records": data, "fmt": fmt}
    if batch_id is not None:
        kwargs["id"] = batch_id
    if received_at is not None:
        kwargs["received_at"] = received_at
    if metadata is not None:
        kwargs["metadata"] = dict(metadata)
    return DataBatch(**kwargs)


@dataclass(frozen=True)
class Stored:
    """What `store_batch` did: the batch's result, and whether it was written now."""

    result: BatchResult
    #: False when the batch id was stored before (a retried job): nothing was
    #: written and the stored result is returned
    new: bool


def store_batch(
    services: Services,
    batch: DataBatch,
    *,
    frame: Any = None,
    reject_reason: str | None = None,
    rules: RuleSet | None = None,
    now: datetime | None = None,
    synchronous: bool = True,
) -> Stored:
    """Check one batch and store its result; idempotent on batch.id.

    `frame` is the batch already read (and size-checked) by the caller, so
    it is not read again; without it the batch is read here.
    `reject_reason` stores the batch as REJECTED with that reason unchecked
    (the caller could not read it). `rules` overrides the stored rules
    (Python rules). A batch that cannot be read is stored as REJECTED with its
    reason and returned, not raised. The after-batch step (anomalies, alerts)
    is the caller's: see `pgwarden.service.pipeline`. `synchronous=False`
    lets the commit return before the WAL flush, for a caller whose own later
    commit waits for it (WAL is flushed in order, so that makes this one
    durable too; a crash before leaves the batch unstored, to be checked again).
    """
    started = time.perf_counter()
    q = queries(services.db.schema)
    rules = rules or get_rules(services, batch.source)
    options = options_from_config(services.config)
    now = now or datetime.now(UTC)
    retention = float(services.config.get("quality.seen_ids_retention_hours"))
    # A JSON-lines batch over the memory ceiling is checked in chunks by check_batch,
    # unless a unique rule spans batches (its values are looked up and stored whole).
    in_chunks = (
        frame is None
        and reject_reason is None
        and not any(rule.cross_batch for rule in rules.rules)
        and chunked(batch, options)
    )
    if frame is None and reject_reason is None and not in_chunks:
        try:
            frame = read_batch(
                batch.records,
                batch.fmt,
                source=batch.source,
                max_value_bytes=options.max_value_bytes,
            )
        except BatchInvalid as exc:
            reject_reason = str(exc)
    checked = reject_reason is None
    window = _window_values(frame, rules) if checked and frame is not None else {}
    with services.db.connection() as conn:
        found = look_up(conn, q, batch.id, rules, window, batch.received_at, retention)
    if found.stored is not None:
        return _repeat(found.stored)
    if checked:
        context = CheckContext(seen=found.seen, learned_fields=found.learned)
        result = check_batch(
            batch, rules, now, context=context, options=options, frame=frame, started=started
        )
    else:
        result = rejected(batch, reject_reason or "", now, meta=batch.meta(), rules=rules)

    ids = [value for values in window.values() for value in values]
    with services.db.connection() as conn:
        if not write_result(conn, q, result, ids, retention, synchronous=synchronous):
            again = read_batch_result(conn, q, batch.id)  # stored by another worker meanwhile
            if again is None:
                raise RuntimeError(f"batch {batch.id} was neither stored nor found stored")
            return _repeat(again)
    log.info(
        "batch %s of %s: %s, %s records, level %s",
        batch.id,
        batch.source,
        result.status,
        result.records,
        result.scores.level if result.scores else "-",
        extra={"action": "quality_batch_stored", "batch_id": batch.id},
    )
    return Stored(result, new=True)


def _repeat(stored: BatchResult) -> Stored:
    log.info(
        "batch %s already stored; returning the stored result",
        stored.batch_id,
        extra={"action": "quality_batch_repeat", "batch_id": stored.batch_id},
    )
    return Stored(stored, new=False)


def _window_values(frame: Any, rules: RuleSet) -> dict[str, list[str]]:
    """The values of each cross-batch unique rule's field, as text (lookup and storage)."""
    out: dict[str, list[str]] = {}
    for rule in rules.rules:
        if not rule.cross_batch:
            continue
        got = resolve(frame.schema, rule.field or "")
        if got is None:
            continue
        expr, _ = got
        out[rule.name] = (
            frame.select(expr.drop_nulls().cast(pl.String).unique(maintain_order=True))
            .to_series()
            .to_list()
        )
    return out
