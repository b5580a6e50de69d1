"""Two extra models for benchmarks/pipeline.py: with the three demo models they make
a 5-model DAG (plus the demo's shadow). Importable by worker processes through
PYTHONPATH=benchmarks."""

from __future__ import annotations

from typing import Any

import polars as pl

from pgwarden.demo.models import lazy_frame_from
from pgwarden.models import BaseDetectionModel, ModelResult
from pgwarden.quality.onepass import collect


class VolumeModel(BaseDetectionModel):
    """Records per category in the batch."""

    def run(self, ctx: Any) -> ModelResult:
        counts = (
            lazy_frame_from(ctx.data)
            .group_by("category")
            .agg(pl.len().alias("n"))
            .sort("category")
            .pipe(collect)
        )
        outputs = [
            {"entity_key": f"{ctx.data.get('source', '?')}:{c}", "score": float(n)}
            for c, n in counts.iter_rows()
        ]
        return ModelResult(outputs=outputs, metrics={"categories": float(len(outputs))})


class SummaryModel(BaseDetectionModel):
    """Reads the risk and volume outputs: one summary score per batch."""

    inputs = ("risk", "volume")

    def run(self, ctx: Any) -> ModelResult:
        risk = ctx.inputs.get("risk") or ()
        volume = ctx.inputs.get("volume") or ()
        top = max((float(r.get("score") or 0) for r in risk), default=0.0)
        total = sum(float(v.get("score") or 0) for v in volume)
        return ModelResult(
            outputs=[{"entity_key": "batch", "score": top, "records": total}],
            metrics={"risk_max": top},
        )
