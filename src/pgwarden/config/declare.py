"""How a runtime config key is declared and how values are checked (pure).

A key is declared once with its type, default, bounds and a one-line
description. `Key.coerce` is the single gate every value passes, whether it
comes from `pgwarden config set`, plain SQL in system_config, or the API.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pgwarden.errors import ConfigValueInvalid, UnknownConfigKey

KEY_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
KEY_TYPES = ("int", "float", "str", "bool", "list", "dict")


@dataclass(frozen=True)
class Key:
    name: str
    type: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: Sequence[str] | None = None
    unit: str = ""
    #: extra check on an already-typed value; returns an error text or None
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)
    #: the value (or part of it) is a secret: shown masked in the API, the CLI,
    #: the history and the logs, and still settable
    secret: bool = False
    #: for a secret key holding structure: what to show instead (default: all masked)
    masker: Callable[[Any], Any] | None = field(default=None, compare=False)
    #: the value names a file or directory: settable from the CLI or the
    #: environment on the server itself, never over HTTP
    path: bool = False

    def __post_init__(self) -> None:
        if not KEY_NAME.match(self.name):
            raise ValueError(f"config key name {self.name!r} must be dotted lower-case")
        if self.type not in KEY_TYPES:
            raise ValueError(f"config key {self.name!r}: unknown type {self.type!r}")
        # A default that fails its own declaration is a programming error: fail at import.
        self.coerce(self.default)

    def expected(self) -> str:
        """Human description of what the key accepts, used in error messages."""
        text = {
            "int": "a whole number",
            "float": "a number",
            "str": "a string",
            "bool": "true or false",
            "list": "a JSON list",
            "dict": "a JSON object",
        }[self.type]
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            text += f" between {_num(self.min)} and {_num(self.max)}"
        elif self.min is not None:
            text += f" of at least {_num(self.min)}"
        elif self.max is not None:
            text += f" of at most {_num(self.max)}"
        if self.unit:
            text += f" ({self.unit})"
        return text

    def coerce(self, value: Any) -> Any:
        """Return the value in the key's type, or raise ConfigValueInvalid.

        The error carries the value as `shown` would show it: a rejected
        secret is not echoed back.
        """
        typed = self._typed(value)
        if typed is _BAD:
            raise ConfigValueInvalid(self.name, self._shown_any(value), self.expected())
        if self.type in ("int", "float") and (
            (self.min is not None and typed < self.min)
            or (self.max is not None and typed > self.max)
        ):
            raise ConfigValueInvalid(self.name, self._shown_any(value), self.expected())
        if self.choices is not None and typed not in self.choices:
            raise ConfigValueInvalid(self.name, self._shown_any(value), self.expected())
        if self.check is not None:
            problem = self.check(typed)
            if problem:
                raise ConfigValueInvalid(
                    self.name,
                    self._shown_any(value),
                    f"{self.expected()}; {self._shown_problem(problem)}",
                )
        return typed

    def shown(self, value: Any) -> Any:
        """The value as it may be shown to anyone: a secret's masked form."""
        if not self.secret or value is None or value == "" or value == [] or value == {}:
            return value
        if self.masker is not None:
            try:
                return self.masker(value)
            except Exception:  # a malformed stored value: mask it all
                return MASK
        return MASK

    def shown_text(self, raw: str | None) -> str | None:
        """A stored JSON text as it may be shown."""
        if raw is None or not self.secret:
            return raw
        try:
            return json.dumps(self.shown(json.loads(raw)))
        except json.JSONDecodeError:
            return json.dumps(MASK)

    def _shown_any(self, value: Any) -> Any:
        return MASK if self.secret and value not in (None, "") else value

    def _shown_problem(self, problem: str) -> str:
        # a check's text may quote the offending part (a URL, a header)
        return "the value does not fit (not shown: it is secret)" if self.secret else problem

    def parse_text(self, text: str) -> Any:
        """Turn command-line text into a value: JSON first, a bare string for str keys."""
        if self.type == "str":
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError:
                return self.coerce(text)
            return self.coerce(loaded if isinstance(loaded, str) else text)
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            if self.type == "bool" and text.lower() in ("true", "false", "yes", "no", "on", "off"):
                return self.coerce(text.lower() in ("true", "yes", "on"))
            raise ConfigValueInvalid(self.name, text, self.expected()) from exc
        return self.coerce(loaded)

    def _typed(self, value: Any) -> Any:
        if self.type == "bool":
            return value if isinstance(value, bool) else _BAD
        if self.type == "int":
            if isinstance(value, bool):
                return _BAD
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return _BAD
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _BAD
            return float(value) if math.isfinite(value) else _BAD
        if self.type == "str":
            return value if isinstance(value, str) else _BAD
        if self.type == "list":
            return list(value) if isinstance(value, list) else _BAD
        if self.type == "dict":
            return dict(value) if isinstance(value, dict) else _BAD
        return _BAD


MASK = "********"


def mask_url(url: Any) -> Any:
    """Keep the scheme and host of a URL, mask its path and query (where tokens live)."""
    if not isinstance(url, str):
        return MASK
    scheme, sep, rest = url.partition("://")
    if not sep:
        return MASK
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/{MASK}"


class _Bad:
    pass


_BAD: Any = _Bad()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_cron(value: str) -> str | None:
    """A five or six field cron expression that croniter (procrastinate's parser) accepts
    and that fires at least once: '99 * * * *', '* * * * * 99', '0 0 32 * *' and
    '0 0 30 2 *' are refused."""
    from croniter import CroniterBadDateError, CroniterError, croniter

    fields = value.split()
    if len(fields) not in (5, 6):
        return "a cron expression has 5 fields (or 6 with seconds)"
    if not all(re.fullmatch(r"[\d*/,\-A-Za-z]+", f) for f in fields):
        return "cron fields hold digits, *, /, - and ,"
    if not croniter.is_valid(value):
        return (
            "a field is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, "
            "weekday 0-7, second 0-59)"
        )
    try:
        croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, CroniterError):
        return "it never fires"
    return None


@dataclass(frozen=True)
class Relation:
    """A rule between keys: `check` gets their values by name, returns a problem or None."""

    keys: tuple[str, ...]
    check: Callable[[dict[str, Any]], str | None] = field(compare=False)


def descending(*names: str) -> Relation:
    """The keys' values must fall strictly from the first to the last."""

    def check(values: dict[str, Any]) -> str | None:
        for high, low in zip(names, names[1:], strict=False):
            if not values[high] > values[low]:
                return f"{low} ({values[low]!r}) must be below {high} ({values[high]!r})"
        return None

    return Relation(tuple(names), check)


class KeyRegistry:
    """All declared keys by name; refuses a second declaration of a name at once."""

    def __init__(self, keys: Sequence[Key] = (), relations: Sequence[Relation] = ()) -> None:
        self._keys: dict[str, Key] = {}
        self.relations: list[Relation] = []
        for key in keys:
            self.add(key)
        for relation in relations:
            self.add_relation(relation)

    def add_relation(self, relation: Relation) -> None:
        for name in relation.keys:
            self[name]  # raises UnknownConfigKey at import for a typo
        defaults = {name: self._keys[name].default for name in relation.keys}
        problem = relation.check(defaults)
        if problem:
            raise ValueError(f"the defaults break a relation between config keys: {problem}")
        self.relations.append(relation)

    def relations_of(self, name: str) -> list[Relation]:
        return [r for r in self.relations if name in r.keys]

    def add(self, key: Key) -> None:
        if key.name in self._keys:
            raise ValueError(f"config key {key.name!r} is declared twice")
        self._keys[key.name] = key

    def __getitem__(self, name: str) -> Key:
        try:
            return self._keys[name]
        except KeyError:
            raise UnknownConfigKey(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[Key]:
        return iter(sorted(self._keys.values(), key=lambda k: k.name))

    def __len__(self) -> int:
        return len(self._keys)
