"""Moved: the start-up settings are `pgwarden.settings`.

This alias stays only while importers outside this step still name the old
path; import `pgwarden.settings` instead.
"""

from pgwarden.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
