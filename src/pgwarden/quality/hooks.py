"""What happens after a batch result is stored: anomaly detection, alerts, daily state.

The checker/storage side calls `after_batch` once per stored batch, in the
same connection. The anomaly/alerting side owns the body of this function.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgwarden.quality.model import BatchResult


def after_batch(conn: psycopg.Connection, schema: str, result: BatchResult, config: Any) -> Any:
    """Evaluate anomalies and alerts for a stored batch; returns what was raised."""
    return None
