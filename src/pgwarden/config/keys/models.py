"""Runtime keys of the models feature."""

from pgwarden.config.declare import Key

KEYS: list[Key] = []
