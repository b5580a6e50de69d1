"""pgwarden: a PostgreSQL-native runtime for detection pipelines."""

__version__ = "0.1.0"
