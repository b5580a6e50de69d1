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


class IdentifierInvalid(PgwardenError):
    def __init__(self, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} {value!r} is not a valid identifier: {reason}")


class LockNotAvailable(PgwardenError):
    """Another session holds a lock we will not wait for."""
