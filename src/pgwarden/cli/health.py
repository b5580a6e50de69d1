"""`pgwarden health ...`: targets, checklist, locks, indexes, statements, tables, report,
rules and a standalone exporter."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.db.conninfo import describe_target, mask_conninfo
from pgwarden.errors import InputInvalid

app = typer.Typer(
    help="Watch PostgreSQL: collectors, /metrics, alert rules, checklist and reports.",
    no_args_is_help=True,
)
targets_app = typer.Typer(help="Databases to watch besides the one pgwarden runs on.",
                          no_args_is_help=True)  # fmt: skip
app.add_typer(targets_app, name="targets")

TARGET = typer.Option("self", "--target", "-t", help="target name ('self' = pgwarden's database)")
JSON = typer.Option(False, "--json", help="print JSON instead of a table")


def _size(v: Any) -> str:
    if v is None:
        return "–"
    v = float(v)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(v) < 1024 or unit == "TB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(v)


# -- targets -------------------------------------------------------------------


@targets_app.command("add")
def targets_add(
    name: str = typer.Argument(..., help="a short name: letters, digits, _ . -"),
    dsn: str = typer.Argument(..., help="libpq DSN; the role needs only pg_monitor"),
) -> None:
    """Add a database to watch; the DSN is tried first and refused when it does not connect."""
    from pgwarden.health import store

    with open_services() as svc:
        added = store.add_target(svc.db, name, dsn, who="pgwarden-cli")
    out.print(f"added health target {escape(name)} ({escape(added['target'])})", highlight=False)


@targets_app.command("remove")
def targets_remove(name: str = typer.Argument(...)) -> None:
    """Stop watching a target (its stored snapshots age out by retention)."""
    from pgwarden.health import store

    with open_services() as svc:
        store.remove_target(svc.db, name)
    out.print(f"removed health target {escape(name)}", highlight=False)


@targets_app.command("list")
def targets_list(as_json: bool = JSON) -> None:
    """Every target, the built-in 'self' included (passwords masked)."""
    from pgwarden.health import runtime_for, store

    with open_services() as svc:
        rows = [{"name": t.name, "target": describe_target(t.dsn), "dsn": mask_conninfo(t.dsn)}
                for t in runtime_for(svc).targets()]  # fmt: skip
        stored = {t["name"]: t for t in store.list_targets(svc.db)}
    for r in rows:
        r["enabled"] = stored.get(r["name"], {}).get("enabled", True)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "host:port/db", "enabled")
    for r in rows:
        table.add_row(escape(r["name"]), escape(r["target"]), str(r["enabled"]).lower())
    out.print(table)


# -- checks and views ----------------------------------------------------------


@app.command()
def check(
    target: str | None = typer.Option(None, "--target", "-t", help="one target (default: all)"),
    as_json: bool = JSON,
) -> None:
    """The daily checklist: exit 0 when every item passes, 1 on a warning, 2 on a failure."""
    from pgwarden.health import checklist

    with open_services() as svc:
        result = checklist(svc, target)
    if as_json:
        print_json(result)
    else:
        colours = {"pass": "green", "warn": "yellow", "fail": "red"}
        for t in result["targets"]:
            table = Table("status", "check", "evidence", "fix", title=f"target {t['target']}")
            for i in t["items"]:
                c = colours[i["status"]]
                table.add_row(f"[{c}]{i['status']}[/]", escape(i["title"]),
                              escape(i["evidence"]), escape(i["fix"]))  # fmt: skip
            out.print(table)
    raise typer.Exit(result["exit_code"])


@app.command()
def locks(target: str = TARGET, as_json: bool = JSON) -> None:
    """Sessions waiting on locks: blocker, root blocker, relation, mode, wait."""
    from pgwarden import health

    with open_services() as svc:
        result = health.locks(svc, target)
    if as_json:
        print_json(result)
        return
    if not result["waits"]:
        out.print("no session is waiting on a lock")
        return
    table = Table("pid", "waits s", "blocked by", "root", "relation", "mode", "query")
    for w in result["waits"]:
        table.add_row(str(w["pid"]), f"{w['wait_seconds']:.1f}",
                      ",".join(map(str, w["blockers"])), ",".join(map(str, w["roots"])),
                      escape(w["relation"] or w["locktype"] or ""), escape(w["mode"] or ""),
                      escape((w["query"] or "")[:60]))  # fmt: skip
    out.print(table)


@app.command()
def indexes(target: str = TARGET, as_json: bool = JSON) -> None:
    """Unused, duplicate, invalid, bloated and large indexes with their safety facts."""
    from pgwarden import health

    with open_services() as svc:
        result = health.indexes(svc, target)
    if as_json:
        print_json(result)
        return
    table = Table("finding", "index", "size", "table size", "scans", "keep because", "fix")
    for kind in ("invalid", "unused", "duplicate", "bloated", "large"):
        for f in result.get(kind) or []:
            keep = ", ".join(f["keep_because"])
            table.add_row(kind, escape(f["index"]), _size(f["index_bytes"]),
                          _size(f["table_bytes"]), str(f["idx_scan"]), escape(keep),
                          escape(f.get("fix") or ""))  # fmt: skip
    out.print(table if table.row_count else "no index findings")


@app.command()
def tables(target: str = TARGET, top: int = typer.Option(20, min=1), as_json: bool = JSON) -> None:
    """Biggest tables (partitioned ones rolled up), dead tuples and vacuum debt."""
    from pgwarden import health

    with open_services() as svc:
        result = health.tables(svc, target, top)
    if as_json:
        print_json(result)
        return
    table = Table("table", "kind", "partitions", "size", "indexes", "live", "dead")
    for t in result["tables"]:
        table.add_row(escape(t["table"]), t["kind"] or "", str(t["partitions"]),
                      _size(t["bytes"]), _size(t["indexes_bytes"]), f"{t['n_live_tup'] or 0:.0f}",
                      f"{t['n_dead_tup'] or 0:.0f}")  # fmt: skip
    out.print(table)
    if result["vacuum_debt"]:
        debt = Table("table over its autovacuum trigger", "dead", "ratio", "fix")
        for d in result["vacuum_debt"]:
            debt.add_row(escape(d["table"]), f"{d['n_dead_tup']:.0f}",
                         f"{d['dead_ratio'] * 100:.1f}%", escape(d["fix"]))  # fmt: skip
        out.print(debt)


@app.command()
def statements(
    target: str = TARGET, top: int = typer.Option(10, min=1, max=500), as_json: bool = JSON
) -> None:
    """Top statements by total time (last day of samples) and regressions against last week."""
    from pgwarden import health

    with open_services() as svc:
        result = health.statements(svc, target, top)
    if as_json:
        print_json(result)
        return
    if not result["installed"]:
        out.print(f"{result['source']}: CREATE EXTENSION pg_stat_statements;")
        return
    table = Table("total ms", "calls", "mean ms", "rows", "query", title=result["source"])
    for s in result["top"]:
        table.add_row(f"{s['total_exec_ms']:.1f}", f"{s['calls']:.0f}", f"{s['mean_ms']:.2f}",
                      f"{s['rows']:.0f}", escape(" ".join(s["query"].split())[:80]))  # fmt: skip
    out.print(table)


# -- report, rules, collection, exporter ----------------------------------------


@app.command()
def report(
    period: str = typer.Option("daily", help="daily or weekly"),
    fmt: str = typer.Option("json", "--format", help="json or html"),
    out_file: Path | None = typer.Option(None, "--out", help="write here instead of stdout"),
    target: str = TARGET,
) -> None:
    """Health report: growth, top and regressed statements, vacuum debt, unused indexes,
    bloat, lock waits seen, alert history and the SQL to act on them."""
    from pgwarden.health import report as rep

    if period not in rep.PERIODS:
        raise InputInvalid("--period", period, "must be daily or weekly")
    if fmt not in ("json", "html"):
        raise InputInvalid("--format", fmt, "must be json or html")
    with open_services() as svc:
        data = rep.build(svc, target, rep.PERIODS[period])
    text = rep.to_html(data) if fmt == "html" else rep.to_json(data)
    if out_file is None:
        out.file.write(text)
        return
    out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {out_file}", highlight=False)


@app.command()
def rules(
    prometheus: bool = typer.Option(False, "--prometheus", help="print a Prometheus rule file"),
) -> None:
    """The alert rules in force (the shipped YAML or health.rules_path)."""
    from pgwarden.health import rules as r

    with open_services() as svc:
        from pgwarden.health import runtime_for

        rule_set = runtime_for(svc).rules()
    if prometheus:
        out.file.write(r.to_prometheus(rule_set))
        return
    table = Table("alert", "severity", "measure", "condition", "for")
    for x in rule_set:
        table.add_row(x.alert, x.severity, x.measure, f"{x.op} {x.threshold:g}", x.for_text)
    out.print(table)


@app.command()
def collect(
    target: str | None = typer.Option(None, "--target", "-t"),
    as_json: bool = JSON,
) -> None:
    """Run one collection round now (stored, rules evaluated), as the periodic task does."""
    from pgwarden import health

    with open_services() as svc:
        snaps = health.collect(svc, target, force=True)
    rows: list[dict[str, Any]] = [
        {"target": s.target, "up": s.up, "error": s.error, "seconds": round(s.duration, 3),
         "failed": [k for k, v in s.results.items() if v.error]}
        for s in snaps
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "up" if r["up"] else f"DOWN: {r['error']}"
        failed = f"; failed: {', '.join(r['failed'])}" if r["failed"] else ""
        out.print(f"{r['target']}: {state} in {r['seconds']} s{failed}", highlight=False)


@app.command()
def serve(
    port: int = typer.Option(9187, min=1, max=65535, help="HTTP port of /metrics"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    interval: float = typer.Option(15.0, min=1.0, help="seconds between collection rounds"),
) -> None:
    """A standalone exporter: collect every INTERVAL seconds, serve /metrics from the cache."""
    from pgwarden.health import runtime_for
    from pgwarden.health.exporter import serve_http

    stop = threading.Event()
    with open_services("pgwarden-health") as svc:
        rt = runtime_for(svc)
        rt.collect(force=True)
        server, thread = serve_http(rt, host, port)
        err.print(f"serving health metrics on http://{host}:{port}/metrics", highlight=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            while not stop.wait(interval):
                started = time.monotonic()
                try:
                    rt.collect()
                except Exception as exc:  # a failing round is logged; the next one runs
                    err.print(f"collection failed: {type(exc).__name__}: {exc}")
                if time.monotonic() - started > interval:
                    err.print(f"a round took longer than the {interval:.0f} s interval")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
