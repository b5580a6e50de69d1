"""Runtime keys of alerting (channels, cool-down, delivery), anomaly detection and daily reports."""

from __future__ import annotations

from typing import Any

from pgwarden.config.declare import MASK, Key, check_cron, mask_url

CHANNEL_TYPES = ("log", "webhook", "slack", "email")
SEVERITIES = ("medium", "high", "critical")
WEIGHT_NAMES = ("volume", "missing_rate", "format_rate", "arrival_gap", "drift", "outliers")


def check_channels(value: list[Any]) -> str | None:
    """Each channel: {"name", "type"} plus url (webhook, slack) or host/to (email)."""
    names: set[str] = set()
    for i, ch in enumerate(value):
        if not isinstance(ch, dict):
            return f"channel #{i + 1} is not an object"
        name, kind = ch.get("name"), ch.get("type")
        if not isinstance(name, str) or not name:
            return f"channel #{i + 1} needs a non-empty 'name'"
        if name in names:
            return f"channel name {name!r} is used twice"
        names.add(name)
        if kind not in CHANNEL_TYPES:
            return f"channel {name!r}: type {kind!r} is not one of {', '.join(CHANNEL_TYPES)}"
        if ch.get("min_severity", "medium") not in SEVERITIES:
            bad = ch.get("min_severity")
            return f"channel {name!r}: min_severity {bad!r} is not one of {SEVERITIES}"
        if kind in ("webhook", "slack"):
            url = ch.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return f"channel {name!r}: url {url!r} must start with http:// or https://"
        if kind == "email":
            if not isinstance(ch.get("host"), str) or not ch.get("host"):
                return f"channel {name!r}: email needs 'host'"
            to = ch.get("to")
            if not isinstance(to, list) or not to or not all(isinstance(t, str) for t in to):
                return f"channel {name!r}: email needs 'to' as a list of addresses"
            if not isinstance(ch.get("from"), str):
                return f"channel {name!r}: email needs 'from'"
    return None


def mask_channels(value: list[Any]) -> list[Any]:
    """A webhook's URL path and query, its headers' values and any password are secret."""
    shown = []
    for ch in value:
        ch = dict(ch)
        if "url" in ch:
            ch["url"] = mask_url(ch["url"])
        if isinstance(ch.get("headers"), dict):
            ch["headers"] = dict.fromkeys(ch["headers"], MASK)
        elif "headers" in ch:
            ch["headers"] = MASK
        for name in ("password", "token", "secret"):
            if name in ch:
                ch[name] = MASK
        shown.append(ch)
    return shown


def check_weights(value: dict[str, Any]) -> str | None:
    for name, w in value.items():
        if name not in WEIGHT_NAMES:
            return f"unknown detector {name!r}; known: {', '.join(WEIGHT_NAMES)}"
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            return f"weight of {name!r} must be a number >= 0, got {w!r}"
    if sum(float(w) for w in value.values()) <= 0:
        return "at least one weight must be above 0"
    return None


KEYS = [
    Key(
        "anomaly.fdr",
        "float",
        round(1 / 1440, 6),
        "false-discovery level per hour of a source's time (a batch gets fdr x its cadence in "
        "hours for the weighted Benjamini-Hochberg step over its tests): 1/1440 is about 0.5 "
        "false anomalies per source-month at any cadence",
        min=1e-6,
        max=0.2,
    ),
    Key(
        "anomaly.weights",
        "dict",
        {
            "volume": 0.8,
            "missing_rate": 0.05,
            "format_rate": 0.05,
            "arrival_gap": 0.05,
            "drift": 0.025,
            "outliers": 0.025,
        },
        "share of the false-alert budget per detector (weighted Benjamini-Hochberg)",
        check=check_weights,
    ),
    Key(
        "anomaly.min_history",
        "int",
        24,
        "batches of history before a detector tests (volume also needs two days)",
        min=4,
        max=10_000,
        unit="batches",
    ),
    Key(
        "anomaly.baseline_days",
        "int",
        28,
        "days of history the baselines are fitted on",
        min=2,
        max=365,
        unit="days",
    ),
    Key(
        "anomaly.reference_batches",
        "int",
        168,
        "recent batches whose histograms form the drift and outlier reference",
        min=10,
        max=5000,
        unit="batches",
    ),
    Key(
        "anomaly.psi_threshold",
        "float",
        0.2,
        "smallest population stability index that counts as drift (effect size)",
        min=0.01,
        max=5,
    ),
    Key(
        "anomaly.min_sample",
        "int",
        20,
        "values a batch needs in a field before drift is tested on it alone (smaller batches "
        "are tested together with the previous ones)",
        min=5,
        max=10_000_000,
        unit="values",
    ),
    Key(
        "anomaly.min_rate_delta",
        "float",
        0.0,
        "smallest absolute excess of a missing, format or outlier rate over its baseline that "
        "may alert (0: only the relative gate, anomaly.min_rate_ratio, applies)",
        min=0,
        max=1,
    ),
    Key(
        "anomaly.min_rate_ratio",
        "float",
        1.5,
        "a missing, format or outlier rate must reach this multiple of the source's own "
        "baseline before it may alert",
        min=1,
        max=1000,
    ),
    Key(
        "anomaly.learn_timezone",
        "bool",
        True,
        "learn each source's local time zone from its history (weekly shape and DST) when it "
        "fits decisively better than PGWARDEN_TIMEZONE",
    ),
    Key(
        "alerts.channels",
        "list",
        [{"name": "log", "type": "log"}],
        "alert channels: objects with name, type (log, webhook, slack, email), min_severity, "
        "url (webhook, slack), host/port/from/to/username/password_env/starttls (email)",
        check=check_channels,
        secret=True,
        masker=mask_channels,
    ),
    Key(
        "alerts.cooldown_minutes",
        "int",
        60,
        "an alert resolved less than this ago is reopened silently instead of notifying again",
        min=0,
        max=7 * 24 * 60,
        unit="minutes",
    ),
    Key(
        "alerts.resolve_after",
        "int",
        2,
        "consecutive clean batches of the source after which an open alert resolves itself",
        min=1,
        max=1000,
        unit="batches",
    ),
    Key(
        "alerts.min_issue_severity",
        "str",
        "high",
        "rule violations below this severity are reported but raise no alert",
        choices=("low", "medium", "high", "critical"),
    ),
    Key(
        "alerts.min_quality_score",
        "float",
        0.7,
        "an overall quality score below this raises an alert (high below 0.5)",
        min=0,
        max=1,
    ),
    Key(
        "alerts.deliver_cron",
        "str",
        "* * * * *",
        "cron of the task that retries pending alert deliveries (read at worker start)",
        check=check_cron,
    ),
    Key(
        "alerts.deliver_inline",
        "bool",
        True,
        "try to deliver new alerts right after the batch is stored (failures stay pending)",
    ),
    Key(
        "alerts.retry_base_seconds",
        "float",
        30.0,
        "first retry delay of a failed delivery; doubles per attempt, with jitter",
        min=0.1,
        max=3600,
        unit="seconds",
    ),
    Key(
        "alerts.retry_max_seconds",
        "float",
        3600.0,
        "longest delay between delivery attempts (a pending delivery is never dropped)",
        min=1,
        max=86400,
        unit="seconds",
    ),
    Key(
        "alerts.timeout_seconds",
        "float",
        5.0,
        "network timeout of one webhook or SMTP delivery",
        min=0.1,
        max=120,
        unit="seconds",
    ),
    Key(
        "report.cron",
        "str",
        "15 * * * *",
        "cron of the daily-report task; it writes yesterday's report (in PGWARDEN_TIMEZONE) "
        "once, on its first run after midnight",
        check=check_cron,
    ),
    Key(
        "report.html_dir",
        "str",
        "",
        "if set, the daily-report task also writes quality-report-DATE.html here",
        path=True,
    ),
    Key(
        "report.trend_days",
        "int",
        14,
        "days of daily average scores the trend slope is fitted on",
        min=3,
        max=365,
        unit="days",
    ),
]
