"""`pgwarden run`: a worker, the periodic schedule and the HTTP server in one process.

The HTTP server (uvicorn) runs in a thread; the worker runs on the main
thread's event loop, where our SIGTERM/SIGINT handlers live. A stop signal
stops the server, lets running jobs finish, then returns.
"""

from __future__ import annotations

import asyncio
import logging
import random
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import uvicorn

from pgwarden.db.conninfo import describe_target, with_options
from pgwarden.db.embedded import EmbeddedServer
from pgwarden.db.pool import check_reachable, first_connection
from pgwarden.errors import DatabaseUnavailable
from pgwarden.service.api.auth import check_bind
from pgwarden.service.web import create_app
from pgwarden.service.worker import run_worker_async, tune_gc
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


RECONNECT_FIRST = 0.5  # seconds before the first reconnect attempt
RECONNECT_MAX = 10.0  # seconds, longest pause between attempts
RECONNECT_PROBE = 2.0  # seconds a probe connection may take
WATCH_TICK = 0.5  # seconds the watch waits on its socket before looking at its event
WATCH_PING = 5.0  # seconds between the watch's pings of its idle connection


def _supervise(
    services: Services, *, concurrency: int, name: str | None, stop: threading.Event
) -> None:
    """Run the worker; when the database goes away, reconnect and run it again.

    A lost server (a postmaster killed, a restart) used to end `pgwarden run`
    with a traceback. Now the worker is restarted once the database answers
    again (the embedded server is restarted by us); /readyz answers 503
    meanwhile, and batches wait in the database: a job cut off mid-way is
    retried by the stalled-job recovery. After PGWARDEN_RECONNECT_TIMEOUT
    seconds without a database the error ends the process (exit 1).
    """
    while not stop.is_set():
        # the worker sets the event it is given when it ends on its own: give it
        # one per attempt, so that `stop` keeps meaning "asked to stop"
        attempt = threading.Event()
        relay = threading.Thread(target=_relay, args=(stop, attempt), daemon=True)
        relay.start()
        lost = threading.Event()
        watch = threading.Thread(
            target=_watch, args=(services, attempt, lost), name="db-watch", daemon=True
        )
        watch.start()
        try:
            asyncio.run(
                run_worker_async(
                    services, concurrency=concurrency, name=name, stop=attempt, lost=lost
                )
            )
            if not lost.is_set():
                return
            reason = "the server closed the connection"
        except Exception as exc:
            if stop.is_set() or (not lost.is_set() and _server_answers(services)):
                raise  # not a lost database: a real error
            reason = _first_line(exc)
        finally:
            attempt.set()  # ends the watch and the relay
        if stop.is_set():
            return
        log.warning("database lost (%s); reconnecting", reason, extra={"action": "db_lost"})
        _reconnect(services, stop)


def _watch(services: Services, attempt: threading.Event, lost: threading.Event) -> None:
    """Stop the worker as soon as the server is gone, not when its pools give up.

    The worker's parts each noticed a killed server only when their pool's
    wait for a connection ran out (10 s), one after another: `pgwarden run`
    restarted the embedded server 15 to 40 s after it died. This thread holds
    one idle connection and waits on its socket, which the server closes when
    it goes (a killed postmaster's backends exit); a `SELECT 1` every
    WATCH_PING covers a server that vanished without closing it. A connection
    that fails, then a direct connect that fails too, is a lost server; a
    connection dropped by a server that still answers is opened again.
    """
    conninfo = with_options(
        services.db.session_conninfo("pgwarden-watch"),
        # over TCP, a server that vanished without a word (a host down, a network
        # cut) fails the ping within ~10 s instead of the kernel's 15 minutes of
        # retransmissions (libpq ignores these on a socket file)
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=2,
        tcp_user_timeout=10_000,
    )
    while not attempt.is_set():
        conn: psycopg.Connection | None
        try:
            conn = first_connection(conninfo, RECONNECT_PROBE)
            conn.autocommit = True
        except Exception:
            conn = None
        if conn is not None:
            with conn:
                _wait_for_trouble(conn, attempt)
        if attempt.is_set():
            return
        if not _server_answers(services):
            lost.set()
            services.db.fail_waiters()  # jobs waiting for a connection end now
            attempt.set()
            return
        attempt.wait(RECONNECT_FIRST)


def _wait_for_trouble(conn: psycopg.Connection, attempt: threading.Event) -> None:
    """Until `attempt` is set (seen within WATCH_TICK) or the connection fails."""
    idle = 0.0
    while not attempt.is_set():
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], WATCH_TICK)
            idle += WATCH_TICK
            if readable or idle >= WATCH_PING:
                conn.execute("SELECT 1")  # reads what arrived: EOF, or a notice
                idle = 0.0
        except Exception:
            return


def _relay(outer: threading.Event, inner: threading.Event) -> None:
    while not inner.is_set():
        if outer.wait(0.5):
            inner.set()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _server_answers(services: Services) -> bool:
    """A direct connection, not the pool's: a pool in its reconnect back-off waits out
    its whole timeout, while a server that is gone refuses at once."""
    try:
        check_reachable(services.db.conninfo, RECONNECT_PROBE)
        return True
    except Exception:
        return False


def _database_answers(services: Services) -> bool:
    try:
        with services.db.pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _reconnect(
    services: Services,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> None:
    """Until the database answers: restart the embedded server, check, back off with jitter.

    Raises DatabaseUnavailable after PGWARDEN_RECONNECT_TIMEOUT seconds.
    """
    settings = services.db.settings
    rng = rng or random.Random()
    deadline = clock() + settings.reconnect_timeout
    delay = RECONNECT_FIRST
    last = "no answer"
    while not stop.is_set():
        try:
            if services.db.embedded and services.db.data_dir is not None:
                EmbeddedServer(services.db.data_dir).start()
            # a direct connection first: the pool may be deep in its back-off
            check_reachable(services.db.conninfo, RECONNECT_PROBE)
            services.db.reopen()
            if _database_answers(services):
                log.warning("database back; restarting the worker", extra={"action": "db_back"})
                return
        except Exception as exc:
            last = _first_line(exc)
        if clock() + delay > deadline:
            raise DatabaseUnavailable(
                describe_target(services.db.conninfo),
                f"gave up reconnecting after {settings.reconnect_timeout:.0f} s ({last})",
            )
        stop.wait(delay * (0.5 + rng.random()))
        delay = min(delay * 2, RECONNECT_MAX)


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
            if previous:  # the process is this service's (`pgwarden run`)
                tune_gc()
            _supervise(services, concurrency=concurrency, name=name, stop=stop)
        else:
            stop.wait()
    finally:
        http.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("service stopped", extra={"action": "service_stop"})
