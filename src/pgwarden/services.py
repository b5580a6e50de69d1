"""`Services`: what every feature function receives (the database and its runtime config).

It sits below the features and the service layer so that every layer can
name it without importing upward; nothing here is global.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import Database


@dataclass
class Services:
    """The database and its runtime config. Passed, never global."""

    db: Database
    config: RuntimeConfig
