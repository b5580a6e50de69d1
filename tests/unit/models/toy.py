"""Small models for the tests; importable as entrypoints `tests.unit.models.toy:Name`."""

from __future__ import annotations

import time
from typing import Any

import pydantic

from pgwarden.models import BaseDetectionModel, ModelContext, ModelResult

HERE = __name__


class Const(BaseDetectionModel):
    """n records `prefix<i>` with score base+i and a fixed decision; counts its inputs."""

    class Params(pydantic.BaseModel):
        n: int = 3
        base: float = 0.0
        decision: str = "ok"
        prefix: str = "e"

    def run(self, ctx: ModelContext) -> ModelResult:
        p = ctx.params
        upstream = sum(len(v) for v in ctx.inputs.values())
        rows = [
            {"entity_key": f"{p.prefix}{i}", "score": p.base + i, "decision": p.decision}
            for i in range(p.n)
        ]
        return ModelResult(rows, {"upstream_rows": float(upstream)})


class Echo(BaseDetectionModel):
    """Outputs exactly params["by_cycle"][cycle_id] (or params["rows"])."""

    def run(self, ctx: ModelContext) -> ModelResult:
        if ctx.cycle_id in ctx.params.get("fail_in", ()):
            raise RuntimeError(f"told to fail in {ctx.cycle_id}")
        rows = ctx.params.get("by_cycle", {}).get(ctx.cycle_id, ctx.params.get("rows", ()))
        return ModelResult([dict(r) for r in rows], {})


class Fail(BaseDetectionModel):
    def run(self, ctx: ModelContext) -> ModelResult:
        raise RuntimeError(f"boom in {ctx.model_id}")


class Sleepy(BaseDetectionModel):
    def run(self, ctx: ModelContext) -> ModelResult:
        time.sleep(float(ctx.params.get("sleep_ms", 0)) / 1000)
        return ModelResult([{"entity_key": "late", "score": 1.0}], {})


class BadMetrics(BaseDetectionModel):
    def run(self, ctx: ModelContext) -> ModelResult:
        return ModelResult(
            [{"entity_key": "x", "score": 1.0}],
            {"ok": 1.0, "k" * 65: 2.0, "nan": float("nan"), "also_ok": 3},
        )


class Spy(BaseDetectionModel):
    """Reports what it saw upstream, and tries to contaminate it when told to."""

    seen: list[tuple[str, str, Any]] = []

    def run(self, ctx: ModelContext) -> ModelResult:
        attempts = []
        if ctx.params.get("attack"):
            for key in list(ctx.inputs):
                for attempt in (
                    lambda k=key: ctx.inputs.__setitem__(k, ["poison"]),  # type: ignore[attr-defined]
                    lambda k=key: ctx.inputs[k][0].__setitem__("score", -1),
                    lambda k=key: ctx.inputs[k].append({"entity_key": "poison"}),
                ):
                    try:
                        attempt()
                        attempts.append("succeeded")
                    except (TypeError, AttributeError):
                        attempts.append("refused")
        Spy.seen.append((ctx.model_id, ctx.version, {k: list(v) for k, v in ctx.inputs.items()}))
        rows = [
            {"entity_key": f"{ctx.version}-{i}", "score": float(i), "decision": ctx.version}
            for i in range(2)
        ]
        return ModelResult(rows, {"attempts_refused": float(attempts.count("refused"))})


class NotAModel:
    pass
