"""`Services`: what every feature function receives (the database and its runtime config).

It sits below the features and the service layer so that every layer can
name it without importing upward; nothing here is global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgwarden.clock import Clock, utcnow
from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import Database


@dataclass
class Services:
    """The database, its runtime config and the clock. Passed, never global.

    `clock` answers "now" for every look-back window (promotion gates,
    comparisons, reports, dashboards); tests pin it to their data."""

    db: Database
    config: RuntimeConfig
    clock: Clock = field(default=utcnow)
