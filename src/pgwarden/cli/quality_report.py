"""`pgwarden quality report` (and other commands of the anomaly/report side)."""

from __future__ import annotations

from pgwarden.cli.quality import app  # noqa: F401  (commands attach to the quality group)
