"""The models feature's errors: each names the model, the version and the field.

They all derive from `PgwardenError` (the CLI prints them and exits 1), the
"no such" ones from `NotFound` (the API answers 404), and
the ones about bad values also derive from `ValueError`, since a bad model_id
is a value error before it is anything else.
"""

from __future__ import annotations

from typing import Any

from pgwarden.errors import NotFound, PgwardenError


class ModelsError(PgwardenError):
    """Root of the models feature's errors."""


class ModelFieldInvalid(ModelsError, ValueError):
    """A value that breaks a rule of the registry (length, pattern, type)."""

    def __init__(self, field: str, value: Any, reason: str, *, model_id: str | None = None):
        self.field = field
        self.value = value
        self.model_id = model_id
        where = f"model {model_id!r}: " if model_id and field != "model_id" else ""
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        super().__init__(f"{where}{field} {shown!r} is invalid: {reason}")


class ModelNotFound(ModelsError, NotFound):
    def __init__(self, model_id: str, field: str = "model_id") -> None:
        self.model_id = model_id
        self.field = field
        super().__init__(
            field,
            model_id,
            f"{field} {model_id!r}: no such model; see `pgwarden models list` "
            "or add it with `pgwarden models add`",
        )


class VersionNotFound(ModelsError, NotFound):
    def __init__(self, model_id: str, version: str) -> None:
        self.model_id = model_id
        self.version = version
        super().__init__(
            "version",
            version,
            f"model {model_id!r} has no version {version!r}; see `pgwarden models list`",
        )


class VersionConflict(ModelsError):
    """A version label reused with different params, entrypoint or role."""

    def __init__(self, model_id: str, version: str, field: str, stored: Any, given: Any):
        self.model_id = model_id
        self.version = version
        self.field = field
        super().__init__(
            f"model {model_id!r} version {version!r} already exists with {field}={stored!r} "
            f"(given {given!r}); versions are immutable, add a new version label instead"
        )


class EntrypointInvalid(ModelsError, ValueError):
    def __init__(self, model_id: str, version: str | None, entrypoint: str, reason: str):
        self.model_id = model_id
        self.version = version
        self.field = "entrypoint"
        self.value = entrypoint
        ver = f" version {version!r}" if version else ""
        super().__init__(f"model {model_id!r}{ver}: entrypoint {entrypoint!r} {reason}")


class ParamsInvalid(ModelsError, ValueError):
    def __init__(self, model_id: str, version: str | None, field: str, value: Any, reason: str):
        self.model_id = model_id
        self.version = version
        self.field = field
        self.value = value
        ver = f" version {version!r}" if version else ""
        super().__init__(
            f"model {model_id!r}{ver}: params field {field!r} = {value!r} is invalid: {reason}"
        )


class InvalidTransition(ModelsError):
    """A lifecycle step the state machine does not allow."""

    def __init__(self, model_id: str, version: str, action: str, role: str, status: str, why: str):
        self.model_id = model_id
        self.version = version
        self.field = "status"
        self.action = action
        self.role = role
        self.status = status
        super().__init__(
            f"model {model_id!r} version {version!r} ({role} {status}): cannot {action}: {why}"
        )


class SecondPrimary(ModelsError):
    def __init__(self, model_id: str, version: str, existing: str) -> None:
        self.model_id = model_id
        self.version = version
        self.field = "role"
        self.existing = existing
        super().__init__(
            f"model {model_id!r} version {version!r}: model already has ACTIVE PRIMARY "
            f"version {existing!r}; activate this one as SHADOW and promote it, or archive "
            f"{existing!r} first"
        )


class ReasonRequired(ModelsError):
    def __init__(self, model_id: str, version: str | None, action: str) -> None:
        self.model_id = model_id
        self.version = version
        self.field = "reason"
        ver = f" version {version!r}" if version else ""
        super().__init__(f"model {model_id!r}{ver}: {action} needs a --reason")


class CycleWouldForm(ModelsError):
    def __init__(self, model_id: str, depends_on: str, path: tuple[str, ...]) -> None:
        self.model_id = model_id
        self.depends_on = depends_on
        self.field = "depends_on"
        self.path = path
        super().__init__(
            f"model {model_id!r}: depending on {depends_on!r} would close the cycle "
            f"{' -> '.join(path)}"
        )


class DependencyInvalid(ModelsError):
    def __init__(self, model_id: str, field: str, value: Any, reason: str) -> None:
        self.model_id = model_id
        self.field = field
        self.value = value
        super().__init__(f"model {model_id!r}: {field} {value!r} is invalid: {reason}")


class GraphCycle(ModelsError):
    """The registry's graph has a cycle and strict mode is on."""

    def __init__(self, paths: list[tuple[str, ...]]) -> None:
        self.paths = paths
        shown = "; ".join(" -> ".join(p) for p in paths)
        super().__init__(
            f"the model graph has a cycle: {shown}; remove an edge "
            "(strict mode refuses to run part of the graph)"
        )


class GateFailed(ModelsError):
    """Promotion refused because the candidate fails the promotion gates."""

    def __init__(self, model_id: str, version: str, failed: list[str]) -> None:
        self.model_id = model_id
        self.version = version
        self.field = "gates"
        self.failed = failed
        super().__init__(
            f"model {model_id!r} version {version!r} fails the promotion gates: "
            f"{'; '.join(failed)}; see `pgwarden models compare {model_id}`, "
            "or pass --force --reason"
        )


class ShadowPublishForbidden(ModelsError):
    """A SHADOW or CHALLENGER output tried to reach the shared context."""

    def __init__(self, model_id: str, version: str, role: str) -> None:
        self.model_id = model_id
        self.version = version
        self.field = "role"
        super().__init__(
            f"model {model_id!r} version {version!r} is {role}: only a PRIMARY's outputs "
            "may be published to downstream models"
        )


class CycleInProgress(ModelsError):
    def __init__(self, cycle_id: str) -> None:
        self.cycle_id = cycle_id
        self.field = "cycle_id"
        super().__init__(
            f"cycle_id {cycle_id!r} is being run by another session; "
            "it will be stored once it finishes"
        )
