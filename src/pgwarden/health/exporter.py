"""The Prometheus side: a custom collector that serves the cached snapshots.

`collect()` never talks to a target: it renders the newest snapshot of each
target (from the runtime's memory, else from the store), and caches the
rendered families per snapshot so repeated scrapes cost only the text
encoding.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from pgwarden.health import families
from pgwarden.health.runtime import HealthRuntime

log = logging.getLogger(__name__)


def to_metric(f: families.Family) -> Metric:
    m: Metric
    if f.kind == "gauge":
        m = GaugeMetricFamily(f.name, f.help, labels=list(f.labels))
    elif f.kind == "counter" and f.name.endswith("_total"):
        m = CounterMetricFamily(f.name, f.help, labels=list(f.labels))
    else:  # postgres_exporter's counters without _total: exposed untyped, name unchanged
        m = Metric(f.name, f.help, "unknown")
        for values, value in f.samples:
            m.add_sample(f.name, dict(zip(f.labels, values, strict=True)), value)
        return m
    for values, value in f.samples:
        m.add_metric(list(values), value)
    return m


class HealthCollector:
    """Registered in a CollectorRegistry; serves pg_* and pgwarden_db_* from the cache."""

    def __init__(self, runtime: HealthRuntime) -> None:
        self.runtime = runtime
        self._rendered: dict[str, tuple[datetime, list[families.Family]]] = {}
        self._metrics: tuple[tuple[tuple[str, datetime], ...], list[Metric]] | None = None

    def families(self) -> list[families.Family]:
        limits = self.runtime.limits()
        out: dict[str, families.Family] = {}
        for snap in self.runtime.cached():
            hit = self._rendered.get(snap.target)
            if hit is None or hit[0] != snap.taken_at:
                try:
                    built = families.build(snap, limits)
                except Exception as exc:  # one bad snapshot costs its target, not the scrape
                    log.warning("health families of %s failed: %s: %s", snap.target,
                                type(exc).__name__, exc,
                                extra={"action": "health_render_failed"})  # fmt: skip
                    built = families.down_families(snap.target, str(exc), snap.counters)
                hit = (snap.taken_at, built)
                self._rendered[snap.target] = hit
            for f in hit[1]:
                merged = out.get(f.name)
                if merged is None:
                    out[f.name] = families.Family(f.name, f.kind, f.help, f.labels,
                                                  list(f.samples))  # fmt: skip
                elif merged.labels == f.labels:
                    merged.samples.extend(f.samples)
        return list(out.values())

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's entry point; the metrics are built once per set of snapshots."""
        self.runtime.scrapes += 1
        key = tuple((s.target, s.taken_at) for s in self.runtime.cached())
        if self._metrics is None or self._metrics[0] != key:
            self._metrics = (key, [to_metric(f) for f in self.families()])
        yield from self._metrics[1]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_text(fams: list[families.Family]) -> str:
    """Prometheus text format 0.0.4 for our families, as generate_latest writes it but
    faster: label names are ours and valid already, so only values are escaped."""
    out: list[str] = []
    for f in fams:
        if f.kind == "counter" and f.name.endswith("_total"):
            kind = "counter"
        else:
            kind = "gauge" if f.kind == "gauge" else "untyped"
        help_ = f.help.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {f.name} {help_}\n# TYPE {f.name} {kind}\n")
        for values, value in f.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(f.labels, values, strict=True))
            out.append(f"{f.name}{{{labels}}} {floatToGoString(value)}\n")
    return "".join(out)


class TextCache:
    """The rendered text of the newest snapshots, rebuilt only when a snapshot changes."""

    def __init__(self, collector: HealthCollector) -> None:
        self.collector = collector
        self._key: tuple[tuple[str, datetime], ...] | None = None
        self._text = b""
        self._lock = threading.Lock()

    def text(self) -> bytes:
        snaps = self.collector.runtime.cached()
        key = tuple((s.target, s.taken_at) for s in snaps)
        with self._lock:
            if key != self._key:
                self._text = render_text(self.collector.families()).encode("utf-8")
                self._key = key
            return self._text


def serve_http(
    runtime: HealthRuntime, host: str, port: int
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """`/metrics` from the cached text plus this process's own metrics; anything else 404.

    Scrapes cost a dictionary lookup and a socket write: rendering happens once
    per new snapshot, not once per scrape.
    """
    cache = TextCache(HealthCollector(runtime))
    runtime.after_round.append(cache.text)  # render once per round, ahead of the scrapes
    own = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=own)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            runtime.scrapes += 1
            body = cache.text() + generate_latest(own)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes are not logged one by one

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="pgwarden-health-http",
                              daemon=True)  # fmt: skip
    thread.start()
    return server, thread


def register(registry: CollectorRegistry, runtime: HealthRuntime) -> HealthCollector:
    """Add the health collector (and process metrics, for dashboard 9628) to a registry."""
    collector = HealthCollector(runtime)
    registry.register(collector)
    with contextlib.suppress(ValueError):  # the registry already has process metrics
        ProcessCollector(registry=registry)
    return collector
