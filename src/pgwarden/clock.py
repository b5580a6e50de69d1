"""The one source of "now" for windows such as "the last 7 days".

Feature functions that look back over a window take `now` from their caller
or from `Services.clock`, never from the machine's clock directly, so tests
(and replays) can pin time to the data they hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pgwarden.errors import InputInvalid

Clock = Callable[[], datetime]

_SINCE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
MAX_SINCE_DAYS = 36500  # a century: more overflows date arithmetic
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The machine's clock, timezone-aware in UTC."""
    return datetime.now(UTC)


def parse_since(text: str, field: str = "since") -> timedelta:
    """A look-back window: '7d', '12h', '30m', '2w', '90s' -> timedelta.

    Raises InputInvalid naming `field` for anything else (the CLI and the API
    give the same answer)."""
    match = _SINCE.match(text.strip())
    if not match:
        raise InputInvalid(field, text, "use a number and s, m, h, d or w, like 7d or 12h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_SINCE_DAYS * 86400:
        raise InputInvalid(field, text, f"a look-back of at most {MAX_SINCE_DAYS}d")
    return timedelta(seconds=seconds)
