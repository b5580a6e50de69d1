"""Runtime config: typed keys (`keys/`), stored in system_config, hot-reloaded (`runtime`).

The start-up settings (environment, pgwarden.toml) are `pgwarden.settings`.
"""
