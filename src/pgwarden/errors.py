"""One exception root for everything pgwarden raises on purpose.

Subclasses carry the data a caller needs (the key, the value, the host) so a
CLI or API can render a precise message without parsing strings.
"""

from __future__ import annotations

from typing import Any


class PgwardenError(Exception):
    """Root of pgwarden's own errors; the message is meant for a person."""


class ConfigValueInvalid(PgwardenError):
    """A runtime config value that does not fit its declaration."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"config key {key!r}: value {value!r} is invalid; expected {expected}")


class ConfigKeyLocalOnly(PgwardenError):
    """A key naming a file or directory, which may not be set over HTTP."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.field = "key"
        self.value = key
        super().__init__(
            f"config key {key!r} names a file or directory: set it on the server with "
            f"`pgwarden config set {key} ...` or the environment, not over HTTP"
        )


class UnknownConfigKey(PgwardenError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"unknown config key {key!r}; see `pgwarden config list` for the keys")


class SettingsInvalid(PgwardenError):
    """A start-up setting (PGWARDEN_* or pgwarden.toml) that cannot be used."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"setting {field}={value!r} is invalid: {expected}")


class DatabaseUnavailable(PgwardenError):
    """The server could not be reached; names host and port, never the password."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(
            f"could not connect to PostgreSQL at {target}: {reason}; "
            "check PGWARDEN_DSN (or the PG* variables) and that the server is running"
        )


class EmbeddedServerError(PgwardenError):
    """The embedded PostgreSQL could not be initialised or started."""


class WorkerStopped(PgwardenError):
    """The worker stopped without being asked to (a failed side task, a lost database)."""


class LockNotAvailable(PgwardenError):
    """Another session holds a lock we will not wait for."""


class InputInvalid(PgwardenError):
    """Bad input from a user or a client: names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = value if not isinstance(value, str | bytes) or len(value) <= 80 else value[:80]
        super().__init__(f"{field}: {reason} (got {shown!r})")


class NotFound(PgwardenError):
    """An unknown batch, source, model, table or alert (the API answers 404).

    The features' own "no such thing" errors derive from it, with a message
    of their own that says where to look."""

    def __init__(self, kind: str, name: object, message: str | None = None) -> None:
        self.kind = kind
        self.name = name
        super().__init__(message or f"unknown {kind} {name!r}")


class PartitionPolicyInvalid(PgwardenError):
    """A partition policy (or its table) that cannot be managed; names field and value."""

    def __init__(self, table: str, field: str, value: Any, reason: str) -> None:
        self.table = table
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"partition policy for {table}: {field}={value!r} is invalid: {reason}")


class ArchiveInvalid(PgwardenError):
    """An archive file or manifest that fails its checks; nothing is restored."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"archive {path}: {reason}")
