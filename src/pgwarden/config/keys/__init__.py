"""Every runtime config key pgwarden knows, gathered from one file per feature.

Each feature owns its own file here (core, partitions, models, quality,
service); this module only assembles them into one registry.
"""

from pgwarden.config.declare import KeyRegistry
from pgwarden.config.keys import alerts, core, health, models, ops, partitions, quality, service

ALL_KEYS = KeyRegistry(
    [
        *core.KEYS,
        *partitions.KEYS,
        *models.KEYS,
        *quality.KEYS,
        *alerts.KEYS,
        *service.KEYS,
        *ops.KEYS,
        *health.KEYS,
    ],
    relations=[*quality.RELATIONS],
)

__all__ = ["ALL_KEYS"]
