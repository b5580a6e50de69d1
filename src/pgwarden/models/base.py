"""What a detection model is: `BaseDetectionModel`, its context and its result.

A model is a class with a `run(ctx) -> ModelResult`. It declares the input
keys it reads (the registry's edges fill them with upstream PRIMARY outputs)
and, optionally, a pydantic `Params` model that validates its version's
params when the version is added, long before a cycle runs it.

Instances are cached by version id and reused across cycles (params are
immutable per version), so `run` must not keep state between calls.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import pydantic

from pgwarden.models.errors import EntrypointInvalid, ModelFieldInvalid, ParamsInvalid

MODEL_ID_MAX = 64  # characters, the column's CHECK
METRIC_KEY_MAX = 64  # characters
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENTRYPOINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
#: the params key that sets a version's soft time budget
TIME_BUDGET_PARAM = "time_budget_ms"


class Role(StrEnum):
    PRIMARY = "PRIMARY"
    SHADOW = "SHADOW"
    CHALLENGER = "CHALLENGER"


class Status(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class RunStatus(StrEnum):
    OK = "OK"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    TIMEOUT = "TIMEOUT"


def check_model_id(value: Any, field: str = "model_id") -> str:
    """Return a valid model id or raise ModelFieldInvalid (a ValueError); no I/O."""
    if not isinstance(value, str) or not value:
        raise ModelFieldInvalid(field, value, "expected a non-empty string")
    if len(value) > MODEL_ID_MAX:
        raise ModelFieldInvalid(
            field, value, f"{len(value)} characters, at most {MODEL_ID_MAX} allowed"
        )
    if not _MODEL_ID.match(value):
        raise ModelFieldInvalid(
            field, value, "use letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return value


def check_label(value: Any, field: str, *, model_id: str | None = None, limit: int = 64) -> str:
    """A version label or input key: 1..limit printable characters without spaces."""
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ModelFieldInvalid(
            field, value, f"expected 1 to {limit} printable characters", model_id=model_id
        )
    if any(c.isspace() for c in value):
        raise ModelFieldInvalid(field, value, "must not contain spaces", model_id=model_id)
    return value


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def freeze(value: Any) -> Any:
    """A read-only deep copy of plain data: dicts become mapping proxies, lists tuples.

    What a PRIMARY publishes goes through this, so a downstream model (or a
    shadow) that tries to change what a sibling reads gets a TypeError.
    """
    kind = type(value)
    if kind in _SCALARS:  # most values: skip the ABC checks below
        return value
    # plain dicts and lists (outputs as models build them): no call per scalar inside
    if kind is dict:
        return MappingProxyType(
            {k: v if type(v) in _SCALARS else freeze(v) for k, v in value.items()}
        )
    if kind is list or kind is tuple:
        return tuple(v if type(v) in _SCALARS else freeze(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class ModelResult:
    """What `run` returns.

    outputs: records (mappings). The keys `entity_key` (text, ≤256 chars),
    `score` (number) and `decision` (label, ≤64 chars) are stored in columns
    and drive the shadow-vs-primary comparison; any other keys go to the
    `payload` jsonb. A polars DataFrame is accepted and stored column by
    column, without a loop over its rows (the faster form for many rows); a
    PRIMARY's is turned into records for its downstream models.
    metrics: {metric_key: number}; keys over 64 characters and non-finite
    values are dropped (and counted) when stored.
    """

    outputs: Sequence[Mapping[str, Any]] | Any = ()
    metrics: Mapping[str, float] = field(default_factory=dict)


class FrameRecords(Sequence[Mapping[str, Any]]):
    """A PRIMARY's DataFrame of scalar columns as its downstream models read it.

    A read-only sequence of read-only rows, made from the frame the first time a
    model reads a row: turning a 5,000-row frame into rows costs 2.5 ms, which a
    model that reads it as a frame (`ModelContext.frame`) never pays. The frame
    itself is never handed out, only a clone (polars shares the columns, copying
    none), so a model that changes its frame in place changes nobody else's.
    """

    __slots__ = ("_frame", "_rows")

    def __init__(self, frame: Any) -> None:
        self._frame = frame
        self._rows: tuple[Mapping[str, Any], ...] | None = None

    def frame(self) -> Any:
        return self._frame.clone()

    def rows(self) -> tuple[Mapping[str, Any], ...]:
        if self._rows is None:
            # fresh dicts of scalars that nobody else holds: a read-only view of each
            # is all `freeze` would give, without copying each again
            self._rows = tuple(map(MappingProxyType, self._frame.to_dicts()))
        return self._rows

    def __len__(self) -> int:
        return int(self._frame.height)

    def __getitem__(self, index: Any) -> Any:
        return self.rows()[index]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrameRecords):
            return self.rows() == other.rows()
        return isinstance(other, Sequence) and self.rows() == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameRecords({self._frame.height} rows)"


@dataclass(frozen=True)
class ModelContext:
    """Everything a model sees during one cycle.

    data: the cycle's data exactly as given to `run_cycle` (for the demo
    models, a list of batches or a polars DataFrame; see pgwarden.demo.models).
    inputs: {input_key: the upstream PRIMARY's outputs}, read-only; only
    PRIMARY outputs of this cycle ever appear here.
    params: the version's validated params (the Params model instance if the
    class declares one, else a read-only mapping).
    conn: the cycle's connection (for reads; the executor owns its transactions).
    """

    cycle_id: str
    cycle_time: datetime
    data: Any
    model_id: str
    version: str
    role: Role
    params: Any
    inputs: Mapping[str, Any]
    conn: Any = None

    def input(self, key: str) -> Any:
        """The upstream PRIMARY outputs under `key`; KeyError names the known keys."""
        try:
            return self.inputs[key]
        except KeyError:
            raise KeyError(
                f"model {self.model_id!r} has no input {key!r}; inputs: {sorted(self.inputs)}"
            ) from None

    def frame(self, key: str) -> Any:
        """The upstream PRIMARY outputs under `key` as a polars DataFrame: the frame the
        upstream returned (a clone) when it returned one, else one built from its rows."""
        rows = self.input(key)
        if isinstance(rows, FrameRecords):
            return rows.frame()
        import polars as pl

        return pl.DataFrame([dict(r) for r in rows], infer_schema_length=None, strict=False)


class BaseDetectionModel:
    """Subclass, set `model_id` (optional), `inputs`, `Params`, and write `run`."""

    #: the registry model id this class implements by default (≤64 characters)
    model_id: ClassVar[str | None] = None
    #: the input keys `run` reads from ctx.inputs (documentation and checks)
    inputs: ClassVar[tuple[str, ...]] = ()
    #: an optional pydantic model validating this version's params
    Params: ClassVar[type[pydantic.BaseModel] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("model_id")
        if declared is not None:
            check_model_id(declared)

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        model_id: str | None = None,
        version: str | None = None,
    ) -> None:
        # The id is checked first: a bad id fails before params or any I/O.
        self.registry_id = check_model_id(model_id or type(self).model_id)
        self.params = self.validate_params(params or {}, model_id=self.registry_id, version=version)

    @classmethod
    def validate_params(
        cls, params: Mapping[str, Any], *, model_id: str = "?", version: str | None = None
    ) -> Any:
        """The params as the model will see them; raises ParamsInvalid naming the field."""
        if not isinstance(params, Mapping):
            raise ParamsInvalid(model_id, version, "<root>", params, "expected a JSON object")
        budget = params.get(TIME_BUDGET_PARAM)
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0
        ):
            raise ParamsInvalid(
                model_id, version, TIME_BUDGET_PARAM, budget, "expected a positive number of ms"
            )
        if cls.Params is None:
            return freeze(dict(params))
        body = {k: v for k, v in params.items() if k != TIME_BUDGET_PARAM}
        try:
            return cls.Params.model_validate(body)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
            raise ParamsInvalid(
                model_id, version, loc, first.get("input"), first.get("msg", "invalid")
            ) from exc

    def run(self, ctx: ModelContext) -> ModelResult:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")


def load_entrypoint(
    entrypoint: str, *, model_id: str, version: str | None = None
) -> type[BaseDetectionModel]:
    """Import `package.module:Class` and check it is a BaseDetectionModel subclass."""
    if not isinstance(entrypoint, str) or not _ENTRYPOINT.match(entrypoint):
        raise EntrypointInvalid(model_id, version, str(entrypoint), "is not `package.module:Class`")
    module_name, _, attr = entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a module that raises on import is the model's fault, not ours
        raise EntrypointInvalid(
            model_id, version, entrypoint, f"cannot be imported: {type(exc).__name__}: {exc}"
        ) from exc
    cls = getattr(module, attr, None)
    if cls is None:
        raise EntrypointInvalid(model_id, version, entrypoint, f"has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseDetectionModel)):
        raise EntrypointInvalid(model_id, version, entrypoint, "is not a BaseDetectionModel")
    return cls


def time_budget_ms(params: Mapping[str, Any]) -> float | None:
    value = params.get(TIME_BUDGET_PARAM)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
