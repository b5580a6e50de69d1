"""`pgwarden demo`: the whole pipeline on the embedded database, with a live view.

Start the embedded server, migrate, register the demo partition policies,
models (with a shadow) and quality rules, run a worker and the HTTP server in
this process, feed the simulated stream for a while, then print the daily
report's summary and the dashboard URL (`--serve` keeps everything running).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pgwarden import alerts, partitions
from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db import migrate
from pgwarden.db.pool import Database, connect
from pgwarden.db.queries import Queries
from pgwarden.demo import simulator
from pgwarden.demo.backfill import CADENCE, DAYS, BackfillReport, Injector, backfill
from pgwarden.demo.models import register_demo_models
from pgwarden.demo.partitions import register_demo_policies
from pgwarden.demo.rules import register_demo_rules
from pgwarden.health import summary_line
from pgwarden.quality import report
from pgwarden.service import WORKER_CONCURRENCY
from pgwarden.service.api.auth import ensure_token
from pgwarden.service.dashboard import data
from pgwarden.service.defer import defer
from pgwarden.service.ingest import batch_records, ingest
from pgwarden.service.runner import HttpServer
from pgwarden.service.tasks import HEARTBEAT
from pgwarden.service.worker import run_worker_async
from pgwarden.services import Services
from pgwarden.settings import Settings

DRAIN_TIMEOUT = 90.0  # seconds to let queued batches finish after the stream stops


@dataclass(frozen=True)
class DemoOptions:
    duration: float = 60.0  # seconds of simulated stream
    rate: float = 2.0  # batches per second
    serve: bool = False
    concurrency: int = WORKER_CONCURRENCY
    seed: int = 7
    live: bool = True
    port: int | None = None
    #: load past days first and inject anomalies into the live stream
    backfill: bool = True


def setup_demo(services: Services) -> dict[str, list[str]]:
    """Register the demo's policies, models and rules (idempotent)."""
    registered = {
        "models": list(register_demo_models(services)),
        "rules": list(register_demo_rules(services)),
        "partitions": list(register_demo_policies(services)),
    }
    partitions.run_maintenance(services)
    return registered


def setup_only(settings: Settings) -> dict[str, list[str]]:
    """Migrate and register the demo set, nothing more (for scripts and tests)."""
    db = connect(settings, name="pgwarden-demo")
    try:
        migrate.upgrade(db.conninfo, db.schema)
        return setup_demo(Services(db=db, config=RuntimeConfig(db)))
    finally:
        db.close()


def run_demo(settings: Settings, opts: DemoOptions, console: Console | None = None) -> list[str]:
    console = console or Console(stderr=True)
    if settings.log_level != "DEBUG":
        # per-batch and per-cycle INFO lines would scroll the live view away
        logging.getLogger("pgwarden").setLevel(logging.WARNING)
    db = connect(settings, name="pgwarden-demo")
    stop_worker = threading.Event()
    worker: threading.Thread | None = None
    http = None
    try:
        revision = migrate.upgrade(db.conninfo, db.schema)
        services = Services(db=db, config=RuntimeConfig(db))
        console.print("registering demo partition policies, models and rules …")
        registered = setup_demo(services)
        filled = _backfill(services, opts, console) if opts.backfill else None
        injector = Injector() if opts.backfill else None
        defer(services, HEARTBEAT)

        worker = threading.Thread(
            target=lambda: asyncio.run(
                run_worker_async(
                    services, concurrency=opts.concurrency, name="demo-worker", stop=stop_worker
                )
            ),
            name="demo-worker",
            daemon=True,
        )
        worker.start()

        token = ensure_token(services)
        http = HttpServer(services, settings.http_host, _free_port(settings, opts.port))
        http.start()
        console.print(f"dashboard at {http.url}/ · API at {http.url}/docs")
        if token:
            console.print(f"API token (shown once): {token}", highlight=False)

        started = datetime.now(UTC)
        sent = _feed(services, opts, console, started, injector)
        _drain(services, console)
        summary = _summary(services, db, revision, started, sent, registered, http.url)
        # before the closing dashboard line
        summary[-1:-1] = _story_lines(services, opts, filled, injector, started)
        if opts.serve:
            for line in summary:
                console.print(line, highlight=False)
            console.print("serving; Ctrl-C stops")
            _feed(
                services,
                DemoOptions(duration=float("inf"), rate=opts.rate, live=False, seed=opts.seed + 1),
                console,
                started,
            )
        return summary
    finally:
        stop_worker.set()
        if worker is not None:
            worker.join(timeout=60)
        if http is not None:
            http.stop()
        db.close()


def _free_port(settings: Settings, wanted: int | None) -> int:
    port = wanted or settings.http_port
    with socket.socket() as sock:
        try:
            sock.bind((settings.http_host, port))
        except OSError:
            sock.bind((settings.http_host, 0))  # taken: any free port will do for the demo
            port = sock.getsockname()[1]
    return port


def _backfill(services: Services, opts: DemoOptions, console: Console) -> BackfillReport:
    """Past days of the demo sources, with a progress bar (see `pgwarden.demo.backfill`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not opts.live,
    ) as bar:
        task = bar.add_task(f"backfill: {DAYS:g} past days", total=None)
        report = backfill(
            services,
            datetime.now(UTC),
            seed=opts.seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(_backfill_line(report), highlight=False)
    return report


def _backfill_line(r: BackfillReport) -> str:
    if not r.batches:
        return f"backfill:   skipped, history already there for {', '.join(r.skipped)}"
    assert r.first is not None and r.last is not None
    skipped = f"; {', '.join(r.skipped)} had history already" if r.skipped else ""
    return (
        f"backfill:   {r.batches} past batches (every {CADENCE.total_seconds() / 3600:g} h, "
        f"{r.first:%Y-%m-%d %H:%M} .. "
        f"{r.last:%Y-%m-%d %H:%M} UTC) for {', '.join(r.sources)} in {r.seconds:.0f} s, "
        f"stored like live ones, without model cycles{skipped}"
    )


def _story_lines(
    services: Services,
    opts: DemoOptions,
    filled: BackfillReport | None,
    injector: Injector | None,
    started: datetime,
) -> list[str]:
    """The backfill, what was injected, and the anomaly alerts with their explanations."""
    if filled is None or injector is None:
        return []
    lines = [_backfill_line(filled)]
    injected = injector.lines(opts.duration)
    lines.append(
        f"injected:   {len(injected)} anomalies into the live stream"
        + (":" if injected else " (the run was too short to reach them)")
    )
    lines.extend(injected)
    rows = _safe(lambda: alerts.list_alerts(services, limit=500)) or []
    lines.extend(anomaly_lines(rows, started))
    return lines


def anomaly_lines(rows: list[dict[str, Any]], since: datetime, most: int = 6) -> list[str]:
    """Anomaly alerts seen since `since`, each with its explanation (pure)."""
    found = [r for r in rows if r["kind"] == "anomaly" and r["last_seen"] >= since]
    older = sum(1 for r in rows if r["kind"] == "anomaly" and r["last_seen"] < since)
    head = f"anomalies:  {len(found)} alert{'s' if len(found) != 1 else ''} in the live run"
    if older:
        head += f" ({older} more from the backfill)"
    lines = [head + (":" if found else "")]
    for r in found[:most]:
        e = r.get("explanation") or {}
        state = "" if r.get("status", "open") == "open" else f", {r['status']}"
        lines.append(f"  [{r['severity']}{state}] {r['title']}")
        rng = e.get("expected_range") or [None, None]
        lines.append(
            f"      observed {_num(e.get('observed'))}, expected {_num(e.get('expected'))} "
            f"(normal range {_num(rng[0])} .. {_num(rng[1])}), {e.get('method', '')}"
        )
        if e.get("severity_reason"):
            lines.append(f"      severity: {e['severity_reason']}")
        if e.get("recommendation"):
            lines.append(f"      → {e['recommendation']}")
    if len(found) > most:
        lines.append(f"  … {len(found) - most} more: `pgwarden alerts list` or the dashboard")
    return lines


def _num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, int | float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"
    return str(v)


def _feed(
    services: Services,
    opts: DemoOptions,
    console: Console,
    started: datetime,
    injector: Injector | None = None,
) -> int:
    """Send simulated batches at `rate` per second for `duration` seconds."""
    t0 = time.monotonic()

    def bend(source: str) -> dict[str, Any]:
        if injector is None:
            return {}
        return dict(injector.bend(source, (time.monotonic() - t0) / opts.duration))

    # the run's start in the ids: a second demo on the same data sends new batches
    tag = f"r{started:%Y%m%d%H%M%S}-"
    stream = simulator.stream(seed=opts.seed, bend=bend, tag=tag)
    interval = 1.0 / opts.rate
    deadline = time.monotonic() + opts.duration
    sent = 0
    next_at = time.monotonic()
    last_view = 0.0
    live = Live(console=console, refresh_per_second=2, transient=False) if opts.live else None
    try:
        if live is not None:
            live.start()
        while time.monotonic() < deadline:
            batch = next(stream)
            ingest(
                services,
                batch.source,
                batch.jsonl(),
                fmt="jsonl",
                metadata=batch.metadata,
                channel="simulator",
                batch_id=batch.batch_id,
            )
            sent += 1
            if live is not None and time.monotonic() - last_view > 1.0:
                live.update(_view(services, started, sent, deadline))
                last_view = time.monotonic()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        if live is not None:
            live.update(_view(services, started, sent, deadline))
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            end_live(live)
    return sent


def end_live(live: Live) -> None:
    """Stop the live view with its last frame on lines of its own.

    On a terminal rich ends the frame with a newline; elsewhere (a pipe, a
    file, `2>&1 | tee`) it prints the last frame without one, and whatever
    comes next would continue its last line.
    """
    live.stop()
    if not live.console.is_terminal:
        live.console.line()


def _drain(services: Services, console: Console) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        rows = batch_records(services, status="PENDING", limit=1)
        rows += batch_records(services, status="PROCESSING", limit=1)
        if not rows:
            return
        time.sleep(0.5)
    console.print(f"[yellow]some batches still queued after {DRAIN_TIMEOUT:.0f} s[/]")


def _view(services: Services, started: datetime, sent: int, deadline: float) -> Group:
    summary = data.source_summary(services, datetime.now(UTC) - started + timedelta(seconds=1))
    elapsed = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
    table = Table(title="pgwarden demo — live", title_justify="left")
    for col in ("source", "batches", "records", "rejected", "pending", "quality", "avg time"):
        table.add_column(col, justify="right" if col != "source" else "left")
    total_records = 0
    for r in summary:
        total_records += int(r["records"] or 0)
        table.add_row(
            r["source"],
            str(r["batches"]),
            str(r["records"]),
            str(r["rejected"]),
            str(r["pending"]),
            f"{float(r['avg_quality']):.3f}" if r["avg_quality"] is not None else "–",
            f"{float(r['avg_seconds']) * 1000:.0f} ms" if r["avg_seconds"] is not None else "–",
        )
    alerts = _safe(lambda: sum(data.alert_counts(services).values()))
    cycle = _safe(lambda: data.model_stats(services).get("cycle", {}).get("p50"))
    extra = stats_line(
        sent, total_records / elapsed, alerts, cycle, max(0.0, deadline - time.monotonic())
    )
    return Group(table, extra)


def stats_line(
    sent: int, records_per_second: float, alerts: int | None, cycle_p50: float | None, left: float
) -> Columns:
    """The live view's counters; each stays whole, and they flow onto a second line if narrow."""
    return Columns(
        [
            Text(f"sent {sent} batches", no_wrap=True),
            Text(f"{records_per_second:.0f} records/s", no_wrap=True),
            Text(f"open alerts {alerts if alerts is not None else '–'}", no_wrap=True),
            Text(
                f"model cycle p50 {cycle_p50 * 1000:.0f} ms" if cycle_p50 else "model cycle p50 –",
                no_wrap=True,
            ),
            Text(f"{left:.0f} s left", no_wrap=True),
        ],
        padding=(0, 3),
    )


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _summary(
    services: Services,
    db: Database,
    revision: str | None,
    started: datetime,
    sent: int,
    registered: dict[str, list[str]],
    url: str,
) -> list[str]:
    with db.connection() as conn:
        version = conn.execute("SHOW server_version").fetchone()
        beat = conn.execute(Queries("pgwarden.service", db.schema)["last_heartbeat"]).fetchone()
    window = datetime.now(UTC) - started + timedelta(seconds=1)
    sources = data.source_summary(services, window)
    records = sum(int(r["records"] or 0) for r in sources)
    lines = [
        f"server:     PostgreSQL {version[0] if version else '?'} "
        f"({'embedded in ' + str(db.data_dir) if db.embedded else 'external'}), "
        f"revision {revision}",
        f"registered: {len(registered['models'])} models, {len(registered['rules'])} rule sets, "
        f"{len(registered['partitions'])} partition policies",
        f"heartbeat:  {'ran on ' + beat[0] if beat else 'not yet'}",
        f"stream:     {sent} batches sent, {records} records processed "
        f"in {window.total_seconds():.0f} s ({records / window.total_seconds():.0f} records/s)",
    ]
    for r in sources:
        q = f"{float(r['avg_quality']):.3f}" if r["avg_quality"] is not None else "–"
        lines.append(
            f"  {r['source']:<17} {r['batches']:>4} batches  {r['rejected']:>3} rejected  "
            f"quality {q}"
        )
    report = _safe(lambda: _report_lines(services))
    lines.extend(report or ["daily report: unavailable"])
    alerts = _safe(lambda: data.alert_counts(services))
    if alerts is not None:
        lines.append(
            "alerts:     open now: " + ", ".join(f"{k} {v}" for k, v in sorted(alerts.items()))
        )
    lines.append(_safe(lambda: summary_line(services)) or "health:     unavailable")
    stats = _safe(lambda: data.model_stats(services))
    if stats and stats.get("cycle"):
        c = stats["cycle"]
        lines.append(
            f"models:     {int(c.get('count', 0))} cycles, p50 {c.get('p50', 0) * 1000:.1f} ms, "
            f"p95 {c.get('p95', 0) * 1000:.1f} ms"
        )
    lines.append(f"dashboard:  {url}/  (keep it up with `pgwarden demo --serve` or `pgwarden run`)")
    return lines


def _report_lines(services: Services) -> list[str]:
    rep = report.daily_report(services, datetime.now(UTC).date())
    d = rep.to_dict()
    lines = [
        f"daily report {d['day']}: {d['total_batches']} batches, {d['total_records']} records, "
        f"average score {d['average_quality_score'] or 0:.3f}, {d['total_anomalies']} anomalies, "
        f"{d['total_alerts']} alerts"
    ]
    for src in d.get("sources", []):
        within = " (within the day)" if src["trend"]["per"] == "hour" else ""
        lines.append(
            f"  {src['source']:<17} score {src['average_quality_score'] or 0:.3f}  "
            f"trend {src['data_quality_trend']}{within}  anomalies {src['total_anomalies']}  "
            f"issues {src['total_quality_issues']}"
        )
    for rec in (d.get("recommendations") or [])[:3]:
        lines.append(f"  → {rec}")
    return lines
