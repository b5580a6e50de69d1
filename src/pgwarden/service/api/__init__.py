"""The HTTP API (FastAPI): batches, quality, alerts, models, partitions, config, health."""

from pgwarden.service.api.app import create_app

__all__ = ["create_app"]
