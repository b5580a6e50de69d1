"""`pgwarden run`: a worker, the periodic schedule and the HTTP server in one process.

The HTTP server (uvicorn) runs in a thread; the worker runs on the main
thread's event loop, where our SIGTERM/SIGINT handlers live. A stop signal
stops the server, lets running jobs finish, then returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from pgwarden.service.api.auth import check_bind
from pgwarden.service.web import create_app
from pgwarden.service.worker import run_worker_async
from pgwarden.services import Services

log = logging.getLogger(__name__)


class HttpServer:
    """uvicorn in a background thread, stoppable, with a readiness wait."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        check_bind(services, host)
        app = create_app(services)
        # reads are open by default only on loopback: the app decides by this host
        app.state.bind_host = host
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the HTTP server failed to start (is the port in use?)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server did not start within {timeout:.0f} s")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        cfg = self.server.config
        return f"http://{cfg.host}:{cfg.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_service(
    services: Services,
    *,
    host: str,
    port: int,
    concurrency: int = 1,
    name: str | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], Any] | None = None,
    workers: bool = True,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop`); running jobs finish before returning."""
    stop = stop or threading.Event()
    http = HttpServer(services, host, port)
    http.start()
    if on_ready is not None:
        on_ready(http.url)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        if workers:
            asyncio.run(run_worker_async(services, concurrency=concurrency, name=name, stop=stop))
        else:
            stop.wait()
    finally:
        http.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("service stopped", extra={"action": "service_stop"})
