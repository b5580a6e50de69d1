"""Read-only views of the registry: the model list, the graph and its plan.

`graph(services)` is what `pgwarden models graph` and `explain` print and
what the HTTP API serves: nodes with their versions, level and blocking
reason, edges, cycles, and renderings as Graphviz dot and Mermaid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pgwarden.db.queries import Queries
from pgwarden.models.graph import Edge, NodeState, Plan, plan
from pgwarden.services import Services


@dataclass(frozen=True)
class VersionInfo:
    id: int
    version: str
    role: str
    status: str
    params_hash: str
    entrypoint: str
    created_at: datetime
    activated_at: datetime | None
    archived_at: datetime | None
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    description: str
    is_enabled: bool
    created_at: datetime
    versions: tuple[VersionInfo, ...]
    depends_on: tuple[tuple[str, str], ...]  # (input_key, upstream model)

    @property
    def primary(self) -> VersionInfo | None:
        for v in self.versions:
            if v.role == "PRIMARY" and v.status == "ACTIVE":
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for v in d["versions"]:
            for k in ("created_at", "activated_at", "archived_at"):
                v[k] = v[k].isoformat() if v[k] else None
            v["params"] = dict(v["params"])
        d["created_at"] = self.created_at.isoformat()
        d["depends_on"] = [{"input_key": k, "model_id": m} for k, m in self.depends_on]
        return d


def list_models(services: Services) -> list[ModelInfo]:
    """Every model with all its versions and edges, by model id."""
    q = Queries("pgwarden.models", services.db.schema)
    with services.db.connection() as conn:
        models = conn.execute(q["list_models"]).fetchall()
        versions = conn.execute(q["list_versions"]).fetchall()
        edges = conn.execute(q["all_edges"]).fetchall()
    by_model: dict[str, list[VersionInfo]] = {}
    for r in versions:
        by_model.setdefault(r[1], []).append(
            VersionInfo(r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10] or {})
        )
    deps: dict[str, list[tuple[str, str]]] = {}
    for m, up, key in edges:
        deps.setdefault(m, []).append((key, up))
    return [
        ModelInfo(
            m[0],
            m[1],
            m[2],
            m[3],
            tuple(by_model.get(m[0], ())),
            tuple(sorted(deps.get(m[0], ()))),
        )
        for m in models
    ]


@dataclass(frozen=True)
class GraphNode:
    model_id: str
    enabled: bool
    level: int | None  # None when the model does not run
    state: str  # "runs", "blocked", "disabled", "idle"
    reason: str | None
    primary: str | None
    candidates: tuple[str, ...]  # "version (ROLE)" of ACTIVE SHADOW/CHALLENGER versions


@dataclass(frozen=True)
class ModelGraph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]
    plan: Plan

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "plan": self.plan.to_dict(),
        }

    def to_dot(self) -> str:
        """Graphviz: arrows follow the data (upstream -> downstream)."""
        lines = ["digraph models {", "  rankdir=LR;", "  node [shape=box];"]
        for n in self.nodes:
            label = n.model_id + (f"\\n{n.primary}" if n.primary else "")
            if n.candidates:
                label += "\\n+ " + ", ".join(n.candidates)
            style = {
                "runs": "",
                "blocked": ', color=red, xlabel="' + _dot_text(n.reason or "") + '"',
                "disabled": ", style=dashed",
                "idle": ", style=dotted",
            }[n.state]
            lines.append(f'  "{_dot_text(n.model_id)}" [label="{_dot_text(label)}"{style}];')
        for e in self.edges:
            lines.append(
                f'  "{_dot_text(e.depends_on)}" -> "{_dot_text(e.model_id)}" '
                f'[label="{_dot_text(e.input_key)}"];'
            )
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        """Mermaid flowchart; node ids are sanitised, labels keep the real ids."""
        ids = {n.model_id: f"m{i}" for i, n in enumerate(self.nodes)}
        lines = ["flowchart LR"]
        for n in self.nodes:
            label = n.model_id + (f"<br/>{n.primary}" if n.primary else "")
            if n.state != "runs":
                label += f"<br/>{n.state}" + (f": {n.reason}" if n.reason else "")
            lines.append(f'  {ids[n.model_id]}["{_mermaid_text(label)}"]')
        for e in self.edges:
            src = ids.get(e.depends_on) or _mermaid_id(e.depends_on)
            dst = ids.get(e.model_id) or _mermaid_id(e.model_id)
            lines.append(f"  {src} -->|{_mermaid_text(e.input_key)}| {dst}")
        blocked = [ids[n.model_id] for n in self.nodes if n.state == "blocked"]
        if blocked:
            lines.append("  classDef blocked stroke:#c00,stroke-width:2px")
            lines.append(f"  class {','.join(blocked)} blocked")
        return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def _mermaid_id(model_id: str) -> str:
    return "x_" + re.sub(r"[^A-Za-z0-9_]", "_", model_id)


def graph(services: Services) -> ModelGraph:
    """The registry's graph as the next cycle would plan it (not strict)."""
    models = list_models(services)
    nodes_state = {}
    edges: list[Edge] = []
    for m in models:
        active = [v for v in m.versions if v.status == "ACTIVE"]
        nodes_state[m.model_id] = NodeState(
            m.is_enabled, any(v.role == "PRIMARY" for v in active), len(active)
        )
        edges.extend(Edge(m.model_id, up, key) for key, up in m.depends_on)
    p = plan(nodes_state, edges)
    nodes = []
    for m in models:
        active = [v for v in m.versions if v.status == "ACTIVE"]
        primary = next((v.version for v in active if v.role == "PRIMARY"), None)
        cands = tuple(f"{v.version} ({v.role})" for v in active if v.role != "PRIMARY")
        if not m.is_enabled:
            state, reason = "disabled", None
        elif m.model_id in p.blocked:
            state, reason = "blocked", p.blocked[m.model_id]
        elif m.model_id in p.levels:
            state, reason = "runs", None
        else:
            state, reason = "idle", "no ACTIVE version"
        nodes.append(
            GraphNode(
                m.model_id, m.is_enabled, p.levels.get(m.model_id), state, reason, primary, cands
            )
        )
    return ModelGraph(tuple(nodes), tuple(sorted(edges)), p)


def events(
    services: Services, model_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest registry events (the audit trail), newest first."""
    q = Queries("pgwarden.models", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["events"], {"model_id": model_id, "limit": limit}).fetchall()
    cols = (
        "id", "at", "actor", "action", "model_id", "version", "from_role",
        "from_status", "to_role", "to_status", "reason", "details",
    )  # fmt: skip
    return [dict(zip(cols, r, strict=True)) for r in rows]


def recent_cycles(services: Services, limit: int = 20) -> list[dict[str, Any]]:
    """The latest cycles with their counts (for the dashboard and the CLI)."""
    q = Queries("pgwarden.models", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["recent_cycles"], {"limit": limit}).fetchall()
    cols = (
        "cycle_id", "cycle_time", "started_at", "finished_at", "duration_ms", "status",
        "versions_ok", "versions_failed", "versions_skipped", "versions_timeout",
        "output_rows", "fingerprint",
    )  # fmt: skip
    return [dict(zip(cols, r, strict=True)) for r in rows]


def run_stats(services: Services) -> dict[str, Any]:
    """For /metrics and the dashboard: {"models": [{model_id, role, mean_seconds (last
    hour, 0 when none), failures (FAILED or TIMEOUT runs ever: a counter), runs_last_hour}],
    "cycle": {count, p50, p95, max} (seconds, cycles finished in the last hour)}."""
    q = Queries("pgwarden.models", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["run_stats"]).fetchall()
        cyc = conn.execute(q["cycle_stats"]).fetchone()
    models = [
        {
            "model_id": r[0],
            "role": r[1],
            "mean_seconds": float(r[2] or 0.0),
            "failures": int(r[3]),
            "runs_last_hour": int(r[4]),
        }
        for r in rows
    ]
    cycle = {"count": float(cyc[0]) if cyc else 0.0}
    if cyc and cyc[0]:
        cycle.update(p50=float(cyc[1]), p95=float(cyc[2]), max=float(cyc[3]))
    return {"models": models, "cycle": cycle}
