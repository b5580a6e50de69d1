"""Alert channels: log, generic webhook (JSON), Slack-compatible webhook, email (SMTP).

A channel is a plain dict from the `alerts.channels` config key. `send`
raises `DeliveryFailed` with a readable reason on any failure; the outbox
decides about retries. Only the standard library is used (urllib, smtplib),
so nothing is downloaded and no client library needs configuring.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from pgwarden.alerts.model import at_least
from pgwarden.config.declare import mask_url
from pgwarden.errors import PgwardenError

log = logging.getLogger(__name__)


class DeliveryFailed(PgwardenError):
    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"alert channel {channel!r}: delivery failed: {reason}")


def wants(channel: Mapping[str, Any], severity: str, source: str | None = None) -> bool:
    """Whether this channel takes an alert of this severity (and source, if it lists sources)."""
    if not at_least(severity, channel.get("min_severity", "medium")):
        return False
    sources = channel.get("sources")
    return not sources or source in sources


def text_of(payload: Mapping[str, Any]) -> str:
    """A short plain-text rendering: what, where, how bad, what to do."""
    alert = payload.get("alert", {})
    exp = alert.get("explanation", {}) or {}
    lines = [
        f"[{str(alert.get('severity', '?')).upper()}] {payload.get('event', '')}: "
        f"{alert.get('title', '')} (source {alert.get('source')}, alert #{alert.get('id')})"
    ]
    if exp.get("metric") is not None:
        rng = exp.get("expected_range") or [None, None]
        lines.append(
            f"{exp.get('metric')}: observed {_fmt(exp.get('observed'))}, expected "
            f"{_fmt(exp.get('expected'))} (range {_fmt(rng[0])}..{_fmt(rng[1])}), "
            f"method {exp.get('method')}, score {_fmt(exp.get('score'))}"
        )
    if exp.get("severity_rule"):
        lines.append(f"severity rule: {exp['severity_rule']}")
    if exp.get("recommendation"):
        lines.append(f"recommendation: {exp['recommendation']}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def send(channel: Mapping[str, Any], payload: Mapping[str, Any], timeout: float) -> None:
    kind = channel.get("type")
    name = str(channel.get("name"))
    if kind == "log":
        alert = payload.get("alert", {})
        log.warning(
            "%s",
            text_of(payload),
            extra={"action": "alert_" + str(payload.get("event")), "alert_id": alert.get("id")},
        )
        return
    if kind == "webhook":
        _post(name, channel["url"], dict(payload), channel.get("headers") or {}, timeout)
        return
    if kind == "slack":
        _post(
            name, channel["url"], {"text": text_of(payload)}, channel.get("headers") or {}, timeout
        )
        return
    if kind == "email":
        _email(name, channel, payload, timeout)
        return
    raise DeliveryFailed(name, f"unknown channel type {kind!r}")


def _post(
    name: str, url: str, body: dict[str, Any], headers: Mapping[str, str], timeout: float
) -> None:
    import urllib.error
    import urllib.request

    data = json.dumps(body, default=str).encode("utf-8")
    request = urllib.request.Request(  # the scheme is checked by the config key
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DeliveryFailed(name, f"HTTP {exc.code} from {mask_url(url)}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(name, f"{mask_url(url)}: {reason}") from exc
    if not 200 <= status < 300:
        raise DeliveryFailed(name, f"HTTP {status} from {mask_url(url)}")


def _email(name: str, ch: Mapping[str, Any], payload: Mapping[str, Any], timeout: float) -> None:
    import smtplib
    from email.message import EmailMessage

    alert = payload.get("alert", {})
    msg = EmailMessage()
    msg["Subject"] = (
        f"[pgwarden {str(alert.get('severity', '')).upper()}] {payload.get('event')}: "
        f"{alert.get('title', '')}"
    )
    msg["From"] = ch["from"]
    msg["To"] = ", ".join(ch["to"])
    msg.set_content(
        text_of(payload) + "\n\n" + json.dumps(alert.get("explanation", {}), indent=2, default=str)
    )
    password = os.environ.get(ch["password_env"]) if ch.get("password_env") else None
    try:
        with smtplib.SMTP(ch["host"], int(ch.get("port", 25)), timeout=timeout) as smtp:
            if ch.get("starttls"):
                smtp.starttls()
            if ch.get("username") and password is not None:
                smtp.login(ch["username"], password)
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(name, f"SMTP {ch['host']}:{ch.get('port', 25)}: {exc}") from exc
