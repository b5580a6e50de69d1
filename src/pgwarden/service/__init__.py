"""The running service: procrastinate app and tasks, workers, HTTP API, dashboard."""
