"""Delivery through local receivers on 127.0.0.1: webhook (failing at first), Slack, SMTP."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pgwarden import alerts
from pgwarden.quality.hooks import after_batch

from .helpers import SCHEMA, bad_range, result

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Receiver:
    """An HTTP receiver that answers 500 to the first `fail` requests, then 200."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict] = []
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                code = 500 if len(outer.bodies) <= outer.fail else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(fail: int = 0) -> Receiver:
        made.append(Receiver(fail))
        return made[-1]

    yield make
    for r in made:
        r.close()


def pending(conn):
    return conn.execute(
        "SELECT channel, status, attempts, last_error, next_attempt_at FROM alert_deliveries "
        "ORDER BY id"
    ).fetchall()


def test_webhook_that_fails_at_first_is_retried_until_delivered(services, conn, receiver):
    conn.autocommit = True
    hook, slack = receiver(fail=1), receiver()
    services.config.set("alerts.channels", [
        {"name": "hook", "type": "webhook", "url": hook.url},
        {"name": "chat", "type": "slack", "url": slack.url, "min_severity": "critical"},
    ])  # fmt: skip
    services.config.set("alerts.retry_base_seconds", 60.0)
    now = datetime.now(UTC)
    outcome = after_batch(
        conn, SCHEMA, result("b1", now, violations=(bad_range(),)), services.config
    )
    assert outcome is not None
    # the pipeline's inline attempt after the commit hits the 500
    assert alerts.deliver_now(services, outcome.alerts["deliveries"], now) == 0
    [(channel, status, attempts, error, next_at)] = pending(conn)
    assert (channel, status, attempts) == ("hook", "pending", 1) and "HTTP 500" in error
    assert now + timedelta(seconds=29) <= next_at <= now + timedelta(seconds=61)
    assert alerts.deliver_pending(services, now=now) == 0  # not due yet
    assert alerts.deliver_pending(services, now=now + timedelta(minutes=2)) == 1
    assert pending(conn)[0][1:3] == ("delivered", 2)
    body = hook.bodies[-1]
    assert body["event"] == "opened" and body["alert"]["rule"] == "rule:value_range"
    assert body["alert"]["explanation"]["recommendation"]
    assert slack.bodies == []  # a high alert is below that channel's min_severity
    alerts.test_channel(services, "chat")
    assert "test message" in slack.bodies[0]["text"]


def test_an_undeliverable_alert_stays_pending(services, conn):
    conn.autocommit = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    services.config.set(
        "alerts.channels", [{"name": "dead", "type": "webhook", "url": f"http://127.0.0.1:{port}/"}]
    )
    services.config.set("alerts.timeout_seconds", 1.0)
    now = datetime.now(UTC)
    outcome = after_batch(
        conn, SCHEMA, result("b1", now, violations=(bad_range(),)), services.config
    )
    assert outcome is not None
    alerts.deliver_now(services, outcome.alerts["deliveries"], now)
    for hours in (1, 2, 3):
        alerts.deliver_pending(services, now=now + timedelta(hours=hours))
    [(channel, status, attempts, error, _)] = pending(conn)
    assert (channel, status, attempts) == ("dead", "pending", 4) and error
    # Removing the channel does not drop what it owed either.
    services.config.set("alerts.channels", [{"name": "log", "type": "log"}])
    alerts.deliver_pending(services, now=now + timedelta(hours=5))
    assert pending(conn)[0][1] == "pending" and "no channel" in pending(conn)[0][3]


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost ready\r\n")
        data = False
        lines: list[str] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if data:
                if text == ".":
                    data = False
                    self.server.messages.append("\n".join(lines))  # type: ignore[attr-defined]
                    self.wfile.write(b"250 ok\r\n")
                else:
                    lines.append(text)
                continue
            cmd = text.upper()
            if cmd.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 localhost\r\n")
            elif cmd.startswith("DATA"):
                data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif cmd.startswith("QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_over_smtp(services, conn):
    conn.autocommit = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        services.config.set("alerts.channels", [{
            "name": "mail", "type": "email", "host": "127.0.0.1",
            "port": server.server_address[1], "from": "pgwarden@example.test",
            "to": ["oncall@example.test"],
        }])  # fmt: skip
        outcome = after_batch(
            conn, SCHEMA, result("b1", datetime.now(UTC), violations=(bad_range(),)),
            services.config,
        )  # fmt: skip
        assert outcome is not None
        assert alerts.deliver_now(services, outcome.alerts["deliveries"]) == 1
        [message] = server.messages  # type: ignore[attr-defined]
        assert "[pgwarden HIGH] opened: user_events" in message and "oncall@example.test" in message
        assert "recommendation" in message
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
