"""Runtime keys of the service feature."""

from pgwarden.config.declare import Key

KEYS: list[Key] = []
