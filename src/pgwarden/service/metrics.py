"""/metrics: a custom Prometheus collector computed at scrape time from the database.

One registry per Services (never the global default). Each family is read
in its own try block: a feature whose tables are missing or failing costs
its own samples and a scrape-error count, never the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from pgwarden import alerts, health, models, partitions
from pgwarden.db.queries import Queries
from pgwarden.service.worker import list_workers
from pgwarden.services import Services

log = logging.getLogger(__name__)

_registries: dict[int, CollectorRegistry] = {}


def registry_for(services: Services) -> CollectorRegistry:
    reg = _registries.get(id(services))
    if reg is None:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(PipelineCollector(services))
        health.register_metrics(reg, services)  # pg_* and pgwarden_db_*, from the cache
        _registries[id(services)] = reg
    return reg


class PipelineCollector:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.q = Queries("pgwarden.service", services.db.schema)

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "pgwarden_scrape_errors",
            "metric families that failed in this scrape",
            labels=["family"],
        )
        parts: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("batches", self._batches),
            ("quality", self._quality),
            ("alerts", self._alerts),
            ("models", self._models),
            ("partitions", self._partitions),
            ("jobs", self._jobs),
        ]
        for name, part in parts:
            try:
                yield from list(part())
                errors.add_metric([name], 0)
            except Exception as exc:
                log.warning("metrics family %s failed: %s: %s", name, type(exc).__name__, exc)
                errors.add_metric([name], 1)
        yield errors

    def _rows(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.services.db.connection() as conn:
            return conn.execute(self.q[query], params or {}).fetchall()

    def _batches(self) -> Iterable[Metric]:
        batches = CounterMetricFamily(
            "pgwarden_batches", "batches by source and status", labels=["source", "status"]
        )
        records = CounterMetricFamily(
            "pgwarden_records_processed", "records in processed batches", labels=["source"]
        )
        rejected = CounterMetricFamily(
            "pgwarden_batches_rejected", "batches rejected by quality", labels=["source"]
        )
        per_source: dict[str, int] = {}
        rej: dict[str, int] = {}
        for source, status, count, recs in self._rows("metric_batches"):
            batches.add_metric([source, status], count)
            if status in ("DONE", "REJECTED"):
                per_source[source] = per_source.get(source, 0) + int(recs)
            rej.setdefault(source, 0)
            if status == "REJECTED":
                rej[source] += count
        for source, total in per_source.items():
            records.add_metric([source], total)
        for source, count in rej.items():
            rejected.add_metric([source], count)
        lag = GaugeMetricFamily(
            "pgwarden_ingest_lag_seconds",
            "ingest to outputs persisted, last hour",
            labels=["source", "stat"],
        )
        for source, mean, worst in self._rows("metric_lag"):
            lag.add_metric([source, "mean"], float(mean))
            lag.add_metric([source, "max"], float(worst))
        return [batches, records, rejected, lag]

    def _quality(self) -> Iterable[Metric]:
        score = GaugeMetricFamily(
            "pgwarden_quality_score", "mean overall quality score, last hour", labels=["source"]
        )
        for source, value in self._rows("metric_quality"):
            score.add_metric([source], float(value))
        return [score]

    def _alerts(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("pgwarden_alerts_open", "open alerts", labels=["severity"])
        counts = alerts.open_alert_counts(self.services)
        for severity in ("low", "medium", "high", "critical"):
            gauge.add_metric([severity], counts.get(severity, 0))
        return [gauge]

    def _models(self) -> Iterable[Metric]:
        duration = GaugeMetricFamily(
            "pgwarden_model_duration_seconds",
            "mean run duration per model version role, last hour",
            labels=["model", "role"],
        )
        failures = CounterMetricFamily(
            "pgwarden_model_failures", "failed or timed-out runs per model", labels=["model"]
        )
        cycle = GaugeMetricFamily(
            "pgwarden_model_cycle_seconds", "model cycle duration, last hour", labels=["stat"]
        )
        stats = models.run_stats(self.services)
        for row in stats.get("models", []):
            duration.add_metric([row["model_id"], row["role"]], row["mean_seconds"])
            failures.add_metric([row["model_id"]], row["failures"])
        for stat, value in stats.get("cycle", {}).items():
            cycle.add_metric([stat], value)
        return [duration, failures, cycle]

    def _partitions(self) -> Iterable[Metric]:
        horizon = GaugeMetricFamily(
            "pgwarden_partition_horizon_seconds",
            "last partition bound minus now",
            labels=["table"],
        )
        default_rows = GaugeMetricFamily(
            "pgwarden_partition_default_rows", "rows in the default partition", labels=["table"]
        )
        for st in partitions.status(self.services):
            d = st.to_dict() if hasattr(st, "to_dict") else dict(st.__dict__)
            table = str(d["table"])
            if d.get("horizon_seconds") is not None:
                horizon.add_metric([table], float(d["horizon_seconds"]))
            if d.get("rows_in_default") is not None:
                default_rows.add_metric([table], float(d["rows_in_default"]))
        return [horizon, default_rows]

    def _jobs(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("pgwarden_job_queue_depth", "jobs waiting", labels=["queue"])
        for queue, count in self._rows("metric_queue"):
            depth.add_metric([queue], count)
        alive = GaugeMetricFamily("pgwarden_workers_alive", "workers beating")
        alive.add_metric([], sum(1 for w in list_workers(self.services) if w.alive))
        return [depth, alive]
