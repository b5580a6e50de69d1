"""Anomaly detection over a source's stored batch history.

Pure core: `evaluate(history, current, tz, settings)` over `BatchPoint`s
(see `model.py`, `detectors.py`, `engine.py`); thin edge: `store.py`.
Importing this package imports no database driver code beyond type names
and nothing heavy: numpy and scipy are imported when the detectors first run.
"""

from pgwarden.quality.anomaly.detectors import DetectorSettings
from pgwarden.quality.anomaly.engine import decide, evaluate
from pgwarden.quality.anomaly.model import (
    METRICS,
    BatchPoint,
    Evaluation,
    Status,
    TestResult,
    Window,
)

__all__ = [
    "METRICS",
    "BatchPoint",
    "DetectorSettings",
    "Evaluation",
    "Status",
    "TestResult",
    "Window",
    "decide",
    "evaluate",
    "settings_from",
]


def settings_from(config: object) -> DetectorSettings:
    """DetectorSettings from a RuntimeConfig (anything with `.get`), or the defaults."""
    get = getattr(config, "get", None)
    if get is None:
        return DetectorSettings()
    weights = get("anomaly.weights")
    return DetectorSettings(
        fdr=get("anomaly.fdr"),
        min_history=get("anomaly.min_history"),
        psi_threshold=get("anomaly.psi_threshold"),
        drift_min_sample=get("anomaly.min_sample"),
        min_rate_delta=get("anomaly.min_rate_delta"),
        min_rate_ratio=get("anomaly.min_rate_ratio"),
        learn_zone=bool(get("anomaly.learn_timezone")),
        weights=tuple((k, float(v)) for k, v in weights.items()),
    )
