"""Errors of the quality feature; each names the source, the rule or field and the value.

They live here rather than in `pgwarden.errors` so the feature's messages stay
next to the code that raises them; all derive from `PgwardenError`, so the
CLI and the API render them like every other error.
"""

from __future__ import annotations

from typing import Any

from pgwarden.errors import NotFound, PgwardenError

_MAX_SHOWN = 80  # characters of a value quoted in a message


def shorten(value: Any, limit: int = _MAX_SHOWN) -> str:
    """A value as it appears in a message: repr, cut to `limit` characters."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 20] + f"... ({len(text)} chars)"
    return text


class RulesInvalid(PgwardenError):
    """A rules file (YAML or Python) that cannot be used; nothing was stored."""

    def __init__(
        self, source: str, rule: str | None, field: str | None, value: Any, reason: str
    ) -> None:
        self.source = source
        self.rule = rule
        self.field = field
        self.value = value
        self.reason = reason
        where = f"rules of source {source!r}"
        if rule is not None:
            where += f", rule {rule!r}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: value {shorten(value)} is invalid: {reason}")


class BatchInvalid(PgwardenError):
    """A batch that cannot be checked; process_batch records it as REJECTED with this text."""

    def __init__(self, source: str, field: str | None, value: Any, reason: str) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.reason = reason
        where = f"batch of source {source!r}"
        if field is not None:
            where += f", field {field!r}"
        shown = "" if value is None else f": value {shorten(value)}"
        super().__init__(f"{where}{shown}: {reason}")


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__("batch", batch_id, f"no stored quality batch with id {batch_id!r}")


class RulesNotFound(NotFound):
    def __init__(self, source: str, version: int | None = None) -> None:
        self.source = source
        self.version = version
        what = f"version {version} of the rules" if version else "rules"
        super().__init__(
            "source",
            source,
            f"no {what} stored for source {source!r}; see `pgwarden quality rules set SOURCE FILE`",
        )
