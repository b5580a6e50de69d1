"""The one source of "now" for windows such as "the last 7 days".

Feature functions that look back over a window take `now` from their caller
or from `Services.clock`, never from the machine's clock directly, so tests
(and replays) can pin time to the data they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The machine's clock, timezone-aware in UTC."""
    return datetime.now(UTC)
