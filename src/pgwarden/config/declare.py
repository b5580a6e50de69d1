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
from typing import Any

from pgwarden.errors import ConfigValueInvalid

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
        """Return the value in the key's type, or raise ConfigValueInvalid."""
        typed = self._typed(value)
        if typed is _BAD:
            raise ConfigValueInvalid(self.name, value, self.expected())
        if self.type in ("int", "float") and (
            (self.min is not None and typed < self.min)
            or (self.max is not None and typed > self.max)
        ):
            raise ConfigValueInvalid(self.name, value, self.expected())
        if self.choices is not None and typed not in self.choices:
            raise ConfigValueInvalid(self.name, value, self.expected())
        if self.check is not None:
            problem = self.check(typed)
            if problem:
                raise ConfigValueInvalid(self.name, value, f"{self.expected()}; {problem}")
        return typed

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


class _Bad:
    pass


_BAD: Any = _Bad()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_cron(value: str) -> str | None:
    """A five or six field cron expression, as procrastinate accepts."""
    fields = value.split()
    if len(fields) not in (5, 6):
        return "a cron expression has 5 fields (or 6 with seconds)"
    if not all(re.fullmatch(r"[\d*/,\-A-Za-z]+", f) for f in fields):
        return "cron fields hold digits, *, /, - and ,"
    return None


class KeyRegistry:
    """All declared keys by name; refuses a second declaration of a name at once."""

    def __init__(self, keys: Sequence[Key] = ()) -> None:
        self._keys: dict[str, Key] = {}
        for key in keys:
            self.add(key)

    def add(self, key: Key) -> None:
        if key.name in self._keys:
            raise ValueError(f"config key {key.name!r} is declared twice")
        self._keys[key.name] = key

    def __getitem__(self, name: str) -> Key:
        from pgwarden.errors import UnknownConfigKey

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
