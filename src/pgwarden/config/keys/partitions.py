"""Runtime keys of the partitions feature."""

from pgwarden.config.declare import Key

KEYS: list[Key] = []
