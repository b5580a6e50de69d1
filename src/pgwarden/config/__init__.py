"""Settings (start-up, environment) and runtime config (system_config, hot reload)."""

from pgwarden.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
