"""`pgwarden models ...`: the registry, the graph, cycles and comparisons."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pgwarden.cli import tables
from pgwarden.cli.common import err, open_services, out, print_json
from pgwarden.clock import parse_since
from pgwarden.errors import PgwardenError

app = typer.Typer(
    help="Detection models: registry, graph, cycles, shadow comparison.", no_args_is_help=True
)
version_app = typer.Typer(help="Model versions.", no_args_is_help=True)
app.add_typer(version_app, name="version")

WHO = typer.Option(None, "--who", help="recorded in registry_events (default user@host)")
REASON = typer.Option(None, "--reason", help="why; recorded in registry_events")
JSON = typer.Option(False, "--json", help="print JSON")


def _done(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    what = f"{result.model_id}" + (f" {result.version}" if result.version else "")
    if not result.changed:
        out.print(f"{result.action} {what}: nothing to do (already so)", highlight=False)
        return
    extra = f" -> {result.role} {result.status}" if result.status else ""
    if result.replaced:
        extra += f"; archived {result.replaced}"
    if result.forced:
        extra += " (forced)"
    out.print(f"{result.action} {what}{extra} (event {result.event_id})", highlight=False)


@app.command("add")
def add(
    model_id: str,
    description: str = typer.Option("", "--description", "-d"),
    who: str | None = WHO,
    as_json: bool = JSON,
) -> None:
    """Add a model (enabled, no versions yet)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import add_model

    with open_services() as svc:
        _done(add_model(svc, model_id, description, who), as_json)


@version_app.command("add")
def version_add(
    model_id: str,
    version: str,
    entrypoint: str = typer.Option(..., "--entrypoint", "-e", help="package.module:Class"),
    params: str = typer.Option("{}", "--params", help="JSON object"),
    params_file: Path | None = typer.Option(None, "--params-file", exists=True, dir_okay=False),
    role: str = typer.Option("SHADOW", "--role", help="PRIMARY, SHADOW or CHALLENGER"),
    who: str | None = WHO,
    as_json: bool = JSON,
) -> None:
    """Add a DRAFT version; the entrypoint is imported and the params validated now."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import add_version

    text = params_file.read_text(encoding="utf-8") if params_file else params
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PgwardenError(f"--params is not JSON: {exc.msg} at {exc.pos}") from exc
    with open_services() as svc:
        _done(add_version(svc, model_id, version, entrypoint, values, role=role, who=who), as_json)


@app.command()
def activate(
    model_id: str,
    version: str,
    who: str | None = WHO,
    reason: str | None = REASON,
    as_json: bool = JSON,
) -> None:
    """DRAFT -> ACTIVE in its role (a PRIMARY only if the model has none)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        _done(models.activate(svc, model_id, version, who, reason), as_json)


@app.command()
def promote(
    model_id: str,
    version: str,
    force: bool = typer.Option(False, "--force", help="skip the gates (needs --reason)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the gate verdict, change nothing"),
    who: str | None = WHO,
    reason: str | None = REASON,
    as_json: bool = JSON,
) -> None:
    """SHADOW -> PRIMARY (old PRIMARY archived) if the promotion gates pass."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        if dry_run:
            window = timedelta(hours=float(svc.config.get("models.gate_window")))
            comparison = models.compare(svc, model_id, window)
            try:
                cand = comparison.candidate(version)
            except KeyError as exc:
                raise PgwardenError(str(exc.args[0])) from None
            if as_json:
                print_json({"dry_run": True, **cand.to_dict()})
                return
            out.print(f"would promote {model_id} {version}: gates {cand.verdict}")
            for g in cand.gates:
                out.print(f"  {'ok  ' if g.passed is not False else 'FAIL'} {g.describe()}")
            return
        _done(models.promote(svc, model_id, version, who, reason, force), as_json)


@app.command()
def archive(
    model_id: str,
    version: str,
    force: bool = typer.Option(False, "--force", help="archive an enabled model's PRIMARY"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    who: str | None = WHO,
    reason: str | None = REASON,
    as_json: bool = JSON,
) -> None:
    """-> ARCHIVED (a PRIMARY only when the model is disabled, or --force --reason)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        if dry_run:
            _dry(svc, model_id, version, "ARCHIVED")
            return
        _done(models.archive(svc, model_id, version, who, reason, force), as_json)


@app.command()
def rollback(
    model_id: str,
    version: str,
    reason: str = typer.Option(..., "--reason", help="why; required"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    who: str | None = WHO,
    as_json: bool = JSON,
) -> None:
    """An ARCHIVED version back to PRIMARY; the current PRIMARY is archived."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        if dry_run:
            _dry(svc, model_id, version, "PRIMARY ACTIVE")
            return
        _done(models.rollback(svc, model_id, version, who, reason), as_json)


def _dry(svc: Any, model_id: str, version: str, target: str) -> None:
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import list_models

    info = next((m for m in list_models(svc) if m.model_id == model_id), None)
    v = next((v for v in info.versions if v.version == version), None) if info else None
    if v is None:
        raise PgwardenError(f"model {model_id!r} has no version {version!r}")
    primary = info.primary if info else None
    out.print(
        f"would move {model_id} {version} from {v.role} {v.status} to {target}"
        + (f"; current PRIMARY {primary.version}" if primary else ""),
        highlight=False,
    )


@app.command()
def rerole(
    model_id: str,
    version: str,
    role: str,
    who: str | None = WHO,
    reason: str | None = REASON,
    as_json: bool = JSON,
) -> None:
    """Change a role: any for a DRAFT, SHADOW <-> CHALLENGER for an ACTIVE version."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        _done(models.rerole(svc, model_id, version, role, who, reason), as_json)


@app.command()
def enable(model_id: str, who: str | None = WHO, reason: str | None = REASON) -> None:
    """Let the model run again."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import set_enabled

    with open_services() as svc:
        _done(set_enabled(svc, model_id, True, who, reason), False)


@app.command()
def disable(model_id: str, who: str | None = WHO, reason: str | None = REASON) -> None:
    """Stop running the model; its dependants are blocked (upstream_disabled)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import set_enabled

    with open_services() as svc:
        _done(set_enabled(svc, model_id, False, who, reason), False)


@app.command("add-dependency")
def add_dependency(
    model_id: str,
    depends_on: str,
    input_key: str = typer.Option(..., "--input-key", "-k", help="the key in ctx.inputs"),
    who: str | None = WHO,
) -> None:
    """MODEL_ID reads DEPENDS_ON's PRIMARY outputs; refused if it would close a cycle."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        _done(models.add_dependency(svc, model_id, depends_on, input_key, who), False)


@app.command("list")
def list_cmd(as_json: bool = JSON) -> None:
    """Every model with its versions."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import list_models

    with open_services() as svc:
        models = list_models(svc)
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    rows: list[list[str]] = []
    for m in models:
        reads = ", ".join(f"{k}<-{u}" for k, u in m.depends_on)
        if not m.versions:
            rows.append([m.model_id, str(m.is_enabled), "-", "", "", "", reads])
        for i, v in enumerate(m.versions):
            first = i == 0
            rows.append(
                [
                    m.model_id if first else "",
                    str(m.is_enabled) if first else "",
                    v.version,
                    v.role,
                    v.status,
                    v.entrypoint,
                    reads if first else "",
                ]
            )
    columns = [
        tables.Column("model", "id"),
        tables.Column("enabled"),
        tables.Column("version", "id"),
        tables.Column("role"),
        tables.Column("status"),
        tables.Column("entrypoint", "wide"),
        tables.Column("reads", "wide"),
    ]
    out.print(tables.table(columns, rows, console=out, note=err))


@app.command("graph")
def graph_cmd(
    fmt: str = typer.Option("mermaid", "--format", "-f", help="dot, mermaid or json"),
) -> None:
    """The dependency graph (arrows follow the data), with blocked models marked."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import graph

    if fmt not in ("dot", "mermaid", "json"):
        raise PgwardenError(f"--format {fmt!r} is not one of dot, mermaid, json")
    with open_services() as svc:
        g = graph(svc)
    if fmt == "json":
        print_json(g.to_dict())
    else:
        typer.echo(g.to_dot() if fmt == "dot" else g.to_mermaid(), nl=False)


@app.command()
def explain(as_json: bool = JSON) -> None:
    """The plan of the next cycle: order, levels, versions, blocked models and why."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import graph

    with open_services() as svc:
        g = graph(svc)
    if as_json:
        print_json(g.to_dict())
        return
    table = Table("level", "model", "primary", "candidates", "state")
    for n in sorted(g.nodes, key=lambda n: (n.level is None, n.level or 0, n.model_id)):
        state = n.state if not n.reason else f"{n.state}: {n.reason}"
        table.add_row(
            "-" if n.level is None else str(n.level),
            n.model_id,
            n.primary or "-",
            ", ".join(n.candidates),
            state,
        )
    out.print(table)
    for path in g.plan.cycles:
        err.print(f"[red]cycle:[/] {' -> '.join(path)}", highlight=False)


@app.command("run-cycle")
def run_cycle_cmd(
    cycle_id: str | None = typer.Option(None, "--cycle-id", help="default: a new uuid"),
    data: Path | None = typer.Option(
        None,
        "--data",
        exists=True,
        dir_okay=False,
        help="JSON: a list of batches or {source: [records]}",
    ),
    demo: bool = typer.Option(False, "--demo", help="generated demo batches"),
    seed: int = typer.Option(0, "--seed", help="seed of the --demo batches"),
    strict: bool = typer.Option(False, "--strict", help="fail on a graph cycle"),
    as_json: bool = JSON,
) -> None:
    """Run one cycle of every ACTIVE version now (idempotent on --cycle-id)."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.models import run_cycle

    if data is not None:
        payload: Any = json.loads(data.read_text(encoding="utf-8"))
    elif demo:
        # lazy for start-up time: every `pgwarden` command imports this module
        from pgwarden.demo.models import sample_batches

        payload = sample_batches(seed)
    else:
        payload = []
    with open_services() as svc:
        report = run_cycle(
            svc,
            cycle_id or f"cli-{uuid.uuid4()}",
            svc.clock(),
            payload,
            strict=strict or None,
        )
    if as_json:
        print_json(report.to_dict())
        return
    rows = []
    for r in report.runs:
        why = r.reason or ""
        if r.error_class:
            why = f"{why} {r.error_class}: {r.error_message}".strip()
        rows.append(
            [r.model_id, r.version, r.role, r.status, f"{r.duration_ms:.2f}",
             str(r.output_count), why]
        )  # fmt: skip
    columns = [
        tables.Column("model", "id"),
        tables.Column("version", "id"),
        tables.Column("role"),
        tables.Column("status"),
        tables.Column("ms", "num"),
        tables.Column("outputs", "num"),
        tables.Column("reason / error"),
    ]
    out.print(tables.table(columns, rows, console=out))
    note = " (stored result, not run again)" if report.replayed else ""
    out.print(
        f"cycle {report.cycle_id}: {report.status} in {report.duration_ms:.1f} ms, "
        f"{report.output_rows} output rows{note}",
        highlight=False,
    )


@app.command()
def compare(
    model_id: str,
    since: str = typer.Option("7d", "--since", help="window, e.g. 7d, 12h, 2w"),
    as_json: bool = JSON,
) -> None:
    """Each SHADOW/CHALLENGER against the PRIMARY on the same cycles, with the gate verdict."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        result = models.compare(svc, model_id, parse_since(since, "--since"))
    if as_json:
        print_json(result.to_dict())
        return
    if not result.candidates:
        out.print(f"{model_id}: no SHADOW or CHALLENGER runs since {result.since:%Y-%m-%d %H:%M}")
        return

    def f(x: float | None, pct: bool = False) -> str:
        if x is None:
            return "n/a"
        return f"{x:.1%}" if pct else f"{x:.4g}"

    table = Table("metric", *(f"{c.version} ({c.role})" for c in result.candidates))
    rows = [
        ("vs PRIMARY", [", ".join(c.primary_versions) for c in result.candidates]),
        ("cycles (paired)", [f"{c.cycles} ({c.paired_cycles})" for c in result.candidates]),
        ("coverage", [f(c.coverage, True) for c in result.candidates]),
        ("agreement", [f(c.agreement, True) for c in result.candidates]),
        ("flips", [f"{c.flips} {c.flips_by_pair or ''}" for c in result.candidates]),
        ("mean Δscore", [f(c.mean_delta) for c in result.candidates]),
        ("p50 |Δscore|", [f(c.p50_abs_delta) for c in result.candidates]),
        ("p95 |Δscore|", [f(c.p95_abs_delta) for c in result.candidates]),
        ("rank correlation", [f(c.rank_correlation) for c in result.candidates]),
        ("error rate", [f(c.error_rate, True) for c in result.candidates]),
        ("latency ratio", [f(c.latency_ratio) for c in result.candidates]),
        ("verdict", [c.verdict for c in result.candidates]),
    ]
    for name, values in rows:
        table.add_row(name, *values)
    out.print(table)
    for c in result.candidates:
        for failed in c.failed_gates():
            out.print(f"{c.version}: gate failed: {failed}", highlight=False)


@app.command()
def events(
    model_id: str | None = typer.Argument(None), limit: int = 30, as_json: bool = JSON
) -> None:
    """The registry's audit trail, newest first."""
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden import models

    with open_services() as svc:
        rows = models.events(svc, model_id, limit)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "at", "actor", "action", "model", "version", "from", "to", "reason")
    for r in rows:
        table.add_row(
            str(r["id"]),
            f"{r['at']:%Y-%m-%d %H:%M:%S}",
            r["actor"],
            r["action"],
            r["model_id"],
            r["version"] or "",
            f"{r['from_role'] or ''} {r['from_status'] or ''}".strip(),
            f"{r['to_role'] or ''} {r['to_status'] or ''}".strip(),
            r["reason"] or "",
        )
    out.print(table)
