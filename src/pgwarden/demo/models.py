"""Demo detection models over the demo stream, and their registration.

What `ctx.data` holds for these models: the cycle's records from the demo
sources (`user_events`, `transaction_logs`, `system_metrics`, `api_calls`),
each record like ``{"id": "e1", "timestamp": "2026-11-21T10:00:00Z",
"value": 12.5, "category": "A", "user_id": "u42"}``, given as any of

- a polars DataFrame with those columns plus `source`;
- a list of batches, each a mapping ``{"source": ..., "records": [...]}``
  (other keys such as `batch_id` are ignored);
- a mapping ``{source: [records]}``;
- one pipeline batch, a mapping with `source` and a polars `frame` (what
  `pgwarden run` passes: ``{"batch_id", "source", "received_at", "frame",
  "metadata"}``).

About 10 % of the demo records are defective: no timestamp, or the sentinel
value -999. The spike detectors ignore those; the missing-data detector
counts them.

The graph: `demo.spike` (PRIMARY v1, SHADOW v2 with a lower threshold and a
smaller MAD floor, so `pgwarden models compare demo.spike` shows real flips)
and `demo.missing` both feed `demo.risk`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
import pydantic

from pgwarden.models import (
    BaseDetectionModel,
    ModelContext,
    ModelResult,
    activate,
    add_dependency,
    add_model,
    add_version,
)
from pgwarden.quality.onepass import collect
from pgwarden.services import Services

SENTINEL = -999.0
MAD_SCALE = 0.6745  # makes the MAD comparable to a standard deviation for normal data


def frame_from(data: Any) -> pl.DataFrame:
    """The cycle's data as one DataFrame: source, id, timestamp, value, category, user_id."""
    return collect(lazy_frame_from(data))


def lazy_frame_from(data: Any) -> pl.LazyFrame:
    """`frame_from` as a query not yet run: a model adds its own steps and collects once
    (each eager step is a collect of its own, about 50 us apiece on a 500-record batch)."""
    if isinstance(data, pl.DataFrame):
        return _normalise(data.lazy(), data.columns)
    if isinstance(data, Mapping) and ("frame" in data or "records" in data):
        batches: Any = [data]  # one pipeline batch
    elif isinstance(data, Mapping):
        batches = [{"source": s, "records": r} for s, r in data.items()]
    else:
        batches = data or []
    frames = []
    for batch in batches:
        source = batch.get("source") or batch.get("source_system") or "unknown"
        part = batch.get("frame")
        if not isinstance(part, pl.DataFrame):
            records = list(batch.get("records") or [])
            part = (
                pl.DataFrame(records, infer_schema_length=None, strict=False) if records else None
            )
        if part is not None and part.height:
            frames.append(_normalise(part.lazy(), part.columns, source=source))
    if not frames:
        return _normalise(pl.LazyFrame(), [])
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


_WANTED = {
    "source": pl.Utf8,
    "id": pl.Utf8,
    "timestamp": pl.Utf8,
    "value": pl.Float64,
    "category": pl.Utf8,
    "user_id": pl.Utf8,
}

#: a record the spike detectors can score: a value that is not the sentinel, a timestamp
_VALID = (
    pl.col("value").is_not_null()
    & (pl.col("value") != SENTINEL)
    & pl.col("timestamp").is_not_null()
)


def _normalise(
    frame: pl.LazyFrame, present: Sequence[str], *, source: str | None = None
) -> pl.LazyFrame:
    """The six columns in shape, in one query; `source` overrides."""
    if not present:
        return pl.LazyFrame(schema=_WANTED)
    columns = []
    for name, dtype in _WANTED.items():
        if name == "source" and source is not None:
            columns.append(pl.lit(source, dtype=pl.Utf8).alias(name))
        elif name not in present:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        else:
            # text always casts; a value that is not a number (say "x") becomes null, and
            # the record is one the spike detectors skip and the missing detector counts
            columns.append(pl.col(name).cast(dtype, strict=False))
    # with_columns, not select: literals alone in a select would make a frame of one row
    return frame.with_columns(columns).select(list(_WANTED))


class SpikeParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    threshold: float = pydantic.Field(3.5, gt=0, description="robust z above which a spike")
    min_mad: float = pydantic.Field(1.0, gt=0, description="MAD floor for flat series")


class SpikeDetector(BaseDetectionModel):
    """Robust z-score per source: 0.6745 * (x - median) / MAD, MAD floored.

    One output per valid record: entity_key `source:id`, score |z|, decision
    `spike` or `normal`."""

    model_id = "demo.spike"
    Params = SpikeParams

    def run(self, ctx: ModelContext) -> ModelResult:
        p: SpikeParams = ctx.params
        median = pl.col("value").median().over("source")
        mad = (pl.col("value") - median).abs().median().over("source")
        score = MAD_SCALE * (pl.col("value") - median).abs() / pl.max_horizontal(mad, p.min_mad)
        # one query, one collect: the frame itself is the outputs, stored column by column
        outputs = (
            lazy_frame_from(ctx.data)
            .filter(_VALID)
            .select(
                (pl.col("source") + ":" + pl.col("id").fill_null("?")).alias("entity_key"),
                score.round(4).alias("score"),
                pl.when(score.round(4) > p.threshold)
                .then(pl.lit("spike"))
                .otherwise(pl.lit("normal"))
                .alias("decision"),
                "source",
            )
            .pipe(collect)
        )
        if outputs.is_empty():
            return ModelResult([], {"records": 0.0, "spikes": 0.0})
        spikes = int((outputs.get_column("decision") == "spike").sum())
        return ModelResult(outputs, {"records": float(outputs.height), "spikes": float(spikes)})


class MissingParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    degraded_above: float = pydantic.Field(0.15, ge=0, le=1)


class MissingDataDetector(BaseDetectionModel):
    """Share of defective records per source (no timestamp, no value, or -999)."""

    model_id = "demo.missing"
    Params = MissingParams

    def run(self, ctx: ModelContext) -> ModelResult:
        p: MissingParams = ctx.params
        defect = (
            pl.col("timestamp").is_null()
            | pl.col("value").is_null()
            | (pl.col("value") == SENTINEL)
        )
        per = (
            lazy_frame_from(ctx.data)
            .group_by("source")
            .agg(pl.len().alias("records"), defect.sum().alias("defects"))
            .sort("source")
            .pipe(collect)
        )
        if per.is_empty():
            return ModelResult([], {"records": 0.0})
        outputs = [
            {
                "entity_key": r["source"],
                "score": round(r["defects"] / r["records"], 4),
                "decision": "degraded" if r["defects"] / r["records"] > p.degraded_above else "ok",
                "records": r["records"],
                "defects": r["defects"],
            }
            for r in per.to_dicts()
        ]
        return ModelResult(outputs, {"records": float(per.get_column("records").sum())})


class RiskParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    spike_weight: float = 0.6
    missing_weight: float = 0.4
    high_above: float = 0.3
    medium_above: float = 0.1


class RiskAggregator(BaseDetectionModel):
    """Per source: weighted spike rate (from `spikes`) and defect share (from `missing`)."""

    model_id = "demo.risk"
    inputs = ("spikes", "missing")
    Params = RiskParams

    def run(self, ctx: ModelContext) -> ModelResult:
        p: RiskParams = ctx.params
        # one row per record upstream: counted per source in one polars query
        frame = ctx.frame("spikes")
        spikes: dict[str, list[int]] = {}
        if frame.height:
            per_source = collect(
                frame.lazy()
                .group_by("source")
                .agg((pl.col("decision") == "spike").fill_null(False).sum(), pl.len())
            )
            spikes = {source: [int(hit), int(n)] for source, hit, n in per_source.iter_rows()}
        missing = {rec["entity_key"]: rec["score"] for rec in ctx.input("missing")}
        outputs = []
        for source in sorted(set(spikes) | set(missing)):
            hit, total = spikes.get(source, [0, 0])
            rate = hit / total if total else 0.0
            risk = round(p.spike_weight * rate + p.missing_weight * missing.get(source, 0.0), 4)
            level = "high" if risk > p.high_above else "medium" if risk > p.medium_above else "low"
            outputs.append({"entity_key": source, "score": risk, "decision": level})
        return ModelResult(outputs, {"sources": float(len(outputs))})


_HERE = __name__
DEMO_VERSIONS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    # model_id, version, class, role, params
    ("demo.spike", "v1", "SpikeDetector", "PRIMARY", {"threshold": 3.5, "min_mad": 1.0}),
    ("demo.spike", "v2", "SpikeDetector", "SHADOW", {"threshold": 2.5, "min_mad": 0.5}),
    ("demo.missing", "v1", "MissingDataDetector", "PRIMARY", {"degraded_above": 0.15}),
    ("demo.risk", "v1", "RiskAggregator", "PRIMARY", {}),
)
DEMO_DESCRIPTIONS = {
    "demo.spike": "robust z-score spike detector per source",
    "demo.missing": "share of defective records per source",
    "demo.risk": "per-source risk from spikes and missing data",
}


def register_demo_models(services: Services, who: str = "pgwarden-demo") -> list[str]:
    """Register and activate the demo models and edges; idempotent. Returns the model ids."""
    for model_id, description in DEMO_DESCRIPTIONS.items():
        add_model(services, model_id, description, who=who)
    for model_id, version, cls, role, params in DEMO_VERSIONS:
        added = add_version(
            services, model_id, version, f"{_HERE}:{cls}", params, role=role, who=who
        )
        # Only a DRAFT is activated: after an operator promoted or archived a demo
        # version, registering again leaves their decision alone.
        if added.status == "DRAFT":
            activate(services, model_id, version, who=who)
    add_dependency(services, "demo.risk", "demo.spike", "spikes", who=who)
    add_dependency(services, "demo.risk", "demo.missing", "missing", who=who)
    return list(DEMO_DESCRIPTIONS)


def sample_batches(seed: int = 0, records: int = 50) -> list[dict[str, Any]]:
    """A cycle's worth of demo-shaped batches (four sources, ~10 % defects, a few
    spikes), for `pgwarden models run-cycle --demo` and the benchmark when the
    demo stream is not running."""
    import random

    rnd = random.Random(seed)
    batches = []
    for source in DEMO_SOURCES:
        rows = []
        for i in range(records):
            value: float | None = round(rnd.gauss(50, 5), 3)
            if rnd.random() < 0.04:
                value = round(50 + rnd.choice((-1, 1)) * rnd.uniform(15, 40), 3)
            rec: dict[str, Any] = {
                "id": f"{source}-{seed}-{i}",
                "timestamp": "2026-11-21T10:00:00Z",
                "value": value,
                "category": rnd.choice("ABC"),
                "user_id": f"u{rnd.randrange(100)}",
            }
            roll = rnd.random()
            if roll < 0.05:
                rec["timestamp"] = None
            elif roll < 0.10:
                rec["value"] = SENTINEL
            rows.append(rec)
        batches.append({"source": source, "batch_id": f"{source}-{seed}", "records": rows})
    return batches


DEMO_SOURCES = ("user_events", "transaction_logs", "system_metrics", "api_calls")
