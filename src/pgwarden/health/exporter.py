"""The Prometheus side: a custom collector that serves the cached snapshots.

`collect()` never talks to a target: it renders the newest snapshot of each
target (from the runtime's memory, else from the store), and caches the
rendered families per snapshot so repeated scrapes cost only the text
encoding.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

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
        self.runtime.scrapes += 1
        for f in self.families():
            yield to_metric(f)


def register(registry: CollectorRegistry, runtime: HealthRuntime) -> HealthCollector:
    """Add the health collector (and process metrics, for dashboard 9628) to a registry."""
    collector = HealthCollector(runtime)
    registry.register(collector)
    with contextlib.suppress(ValueError):  # the registry already has process metrics
        ProcessCollector(registry=registry)
    return collector
