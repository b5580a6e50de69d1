"""The dependency graph and the cycle plan, as pure functions of plain data.

Edges are model-level: `model_id` reads `depends_on`'s PRIMARY outputs under
`input_key`. Paths and arrows follow the data, upstream -> downstream, so a
cycle reads `a -> b -> a` (a feeds b, b feeds a).

Planning never raises on a bad graph (unless strict): a cycle blocks its
members and what depends on them, and the rest of the graph runs. Each
blocked model gets exactly one machine-readable reason:

    upstream_unknown:<id>      an edge points to a model that does not exist
    upstream_disabled:<id>     an edge points to a disabled model
    upstream_no_primary:<id>   the upstream has no ACTIVE PRIMARY (provides nothing)
    upstream_blocked:<id>      the upstream is itself blocked for one of these reasons
    in_cycle:<a->b->a>         the model is in a dependency cycle
    downstream_of_cycle:<id>   a transitive upstream <id> is in a cycle
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pgwarden.models.errors import GraphCycle


@dataclass(frozen=True, order=True)
class Edge:
    model_id: str  # the downstream model
    depends_on: str  # the upstream model
    input_key: str


@dataclass(frozen=True)
class NodeState:
    """What planning needs to know about one model."""

    enabled: bool
    has_primary: bool  # an ACTIVE PRIMARY version exists
    active_versions: int  # ACTIVE versions of any role


@dataclass(frozen=True)
class Plan:
    order: tuple[str, ...]  # runnable models, upstream first, by (level, model_id)
    levels: Mapping[str, int]
    blocked: Mapping[str, str]  # model_id -> reason, for models that would otherwise run
    cycles: tuple[tuple[str, ...], ...]  # each a closed path: a, b, a
    inputs: Mapping[str, tuple[Edge, ...]]  # model_id -> its edges, sorted by input_key
    idle: tuple[str, ...] = field(default=())  # enabled models with no ACTIVE version

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "levels": dict(self.levels),
            "blocked": dict(self.blocked),
            "cycles": [" -> ".join(p) for p in self.cycles],
            "idle": list(self.idle),
        }


def successors(edges: Iterable[Edge]) -> dict[str, list[str]]:
    """upstream -> sorted downstream ids (the direction the data flows)."""
    out: dict[str, set[str]] = {}
    for e in edges:
        out.setdefault(e.depends_on, set()).add(e.model_id)
    return {k: sorted(v) for k, v in out.items()}


def strongly_connected(nodes: Iterable[str], succ: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's components, iterative (no recursion limit), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            nexts = succ.get(node, [])
            if i < len(nexts):
                work.append((node, i + 1))
                nxt = nexts[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                comps.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return comps


def _shortest_path(
    start: str, goal: str, succ: Mapping[str, list[str]], allowed: set[str]
) -> tuple[str, ...] | None:
    """BFS from start to goal inside `allowed`; the path including both ends, or None."""
    prev: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, []):
            if nxt not in allowed:
                continue
            if nxt == goal:
                path = [goal, node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return tuple(reversed(path))
            if nxt not in seen:
                seen.add(nxt)
                prev[nxt] = node
                queue.append(nxt)
    return None


def find_cycles(edges: Iterable[Edge]) -> list[tuple[str, ...]]:
    """One concrete closed path per cycle (strongly connected component), sorted.

    Each path starts at the component's smallest id and is a shortest way
    back to it, so the report is the same on every run.
    """
    edges = list(edges)
    succ = successors(edges)
    nodes = {e.model_id for e in edges} | {e.depends_on for e in edges}
    paths = []
    for comp in strongly_connected(nodes, succ):
        start = comp[0]
        if len(comp) == 1 and start not in succ.get(start, []):
            continue
        path = _shortest_path(start, start, succ, set(comp))
        if path is not None:
            paths.append(path)
    return sorted(paths)


def would_close_cycle(
    edges: Iterable[Edge], model_id: str, depends_on: str
) -> tuple[str, ...] | None:
    """The closed path the new edge depends_on -> model_id would create, or None."""
    if model_id == depends_on:
        return (depends_on, model_id)
    edges = list(edges)
    succ = successors(edges)
    nodes = {e.model_id for e in edges} | {e.depends_on for e in edges} | {model_id}
    back = _shortest_path(model_id, depends_on, succ, nodes)
    if back is None:
        return None
    return (*back, model_id)


def plan(nodes: Mapping[str, NodeState], edges: Iterable[Edge], *, strict: bool = False) -> Plan:
    """Which models run this cycle, in which order, and why the others do not.

    Candidates are enabled models with at least one ACTIVE version. Raises
    GraphCycle only when `strict` and the graph has a cycle.
    """
    edges = sorted(set(edges))
    cycles = find_cycles(edges)
    if strict and cycles:
        raise GraphCycle(cycles)
    by_model: dict[str, list[Edge]] = {}
    for e in edges:
        by_model.setdefault(e.model_id, []).append(e)
    for lst in by_model.values():
        lst.sort(key=lambda e: (e.input_key, e.depends_on))

    in_cycle: dict[str, str] = {}
    for path in cycles:
        text = "->".join(path)
        for member in path[:-1]:
            in_cycle.setdefault(member, f"in_cycle:{text}")

    candidates = sorted(m for m, s in nodes.items() if s.enabled and s.active_versions > 0)
    idle = tuple(sorted(m for m, s in nodes.items() if s.enabled and s.active_versions == 0))
    reasons: dict[str, str | None] = {}

    def upstream_to_resolve(model: str) -> list[str]:
        out = []
        for e in by_model.get(model, []):
            state = nodes.get(e.depends_on)
            if (
                state is not None
                and state.enabled
                and state.active_versions > 0
                and e.depends_on not in in_cycle
                and e.depends_on not in reasons
            ):
                out.append(e.depends_on)
        return out

    def own_reason(model: str) -> str | None:
        if model in in_cycle:
            return in_cycle[model]
        found: list[tuple[int, str]] = []
        for e in by_model.get(model, []):
            up = e.depends_on
            state = nodes.get(up)
            if state is None:
                found.append((1, f"upstream_unknown:{up}"))
            elif not state.enabled:
                found.append((2, f"upstream_disabled:{up}"))
            elif up in in_cycle:
                found.append((0, f"downstream_of_cycle:{up}"))
            else:
                up_reason = reasons.get(up) if state.active_versions > 0 else None
                if up_reason is not None and up_reason.startswith("downstream_of_cycle:"):
                    found.append((0, up_reason))
                elif up_reason is not None:
                    found.append((4, f"upstream_blocked:{up}"))
                elif not state.has_primary:
                    found.append((3, f"upstream_no_primary:{up}"))
        return min(found)[1] if found else None

    def reason_of(model: str) -> str | None:
        # Depth-first with an explicit stack (chains may be longer than Python's
        # recursion limit); outside cycles the graph is acyclic, so this ends.
        stack = [model]
        while stack:
            m = stack[-1]
            if m in reasons:
                stack.pop()
                continue
            pending = [] if m in in_cycle else upstream_to_resolve(m)
            if pending:
                stack.extend(pending)
                continue
            reasons[m] = own_reason(m)
            stack.pop()
        return reasons[model]

    blocked = {}
    for m in candidates:
        r = reason_of(m)
        if r is not None:
            blocked[m] = r
    runnable = [m for m in candidates if m not in blocked]

    levels: dict[str, int] = {}
    indegree = {m: len({e.depends_on for e in by_model.get(m, [])}) for m in runnable}
    succ = successors(e for e in edges if e.model_id in indegree)
    heap = [(0, m) for m in runnable if indegree[m] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        level, m = heapq.heappop(heap)
        levels[m] = level
        order.append(m)
        for nxt in succ.get(m, []):
            if nxt not in indegree:
                continue
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                lvl = 1 + max(levels[e.depends_on] for e in by_model[nxt])
                heapq.heappush(heap, (lvl, nxt))
    return Plan(
        order=tuple(order),
        levels=levels,
        blocked=blocked,
        cycles=tuple(cycles),
        inputs={m: tuple(by_model.get(m, ())) for m in candidates},
        idle=idle,
    )
