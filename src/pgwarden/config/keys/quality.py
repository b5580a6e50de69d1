"""Runtime keys of the quality feature."""

from pgwarden.config.declare import Key

KEYS: list[Key] = []
