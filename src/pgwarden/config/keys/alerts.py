"""Runtime keys of alerting (channels, cool-down, delivery) and anomaly detection."""

from pgwarden.config.declare import Key

KEYS: list[Key] = []
