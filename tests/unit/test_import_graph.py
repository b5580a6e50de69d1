"""The import graph of src/pgwarden points one way: no cycles, and no feature imports upward.

Read from the source with `ast` (nothing is imported). Cycles are looked for
among module-level imports (those under `if TYPE_CHECKING:` excluded), both
between modules and between the top-level packages (`db`, `config`,
`quality`, ...); between the feature packages, function-level imports
count too. The layer rule looks at every import, function-level ones
included: a feature (and everything below the features) never imports
`pgwarden.service` or `pgwarden.cli`; those two may import everything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pgwarden

SRC = Path(pgwarden.__file__).parent
FEATURES = ("alerts", "quality", "models", "partitions", "health", "ops")
BELOW_FEATURES = ("db", "config", "settings", "errors", "clock", "services")
UPPER = ("service", "cli")


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ["pgwarden", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The pgwarden modules an import statement loads (a submodule when it names one)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == "pgwarden")
        return
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    if base.split(".")[0] != "pgwarden":
        return
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in MODULES else base


def _graph(*, every_import: bool) -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        if every_import:
            nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        else:
            nodes = list(_module_level(tree.body))
        graph[module] = {t for n in nodes for t in _targets(module, n) if t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pgwarden"


def test_the_modules_import_each_other_without_a_cycle() -> None:
    assert _cycles(_graph(every_import=False)) == []


def test_the_top_level_packages_import_each_other_without_a_cycle() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in _graph(every_import=False).items():
        for target in targets:
            if _top(target) != _top(module) and _top(target) != "pgwarden":
                packages.setdefault(_top(module), set()).add(_top(target))
    assert _cycles(packages) == []


def test_the_features_import_each_other_one_way_even_inside_functions() -> None:
    """A function-level import hides a loop from Python, not from the design."""
    packages: dict[str, set[str]] = {}
    for module, targets in _graph(every_import=True).items():
        for target in targets:
            if (
                _top(module) in FEATURES
                and _top(target) in FEATURES
                and _top(target) != _top(module)
            ):
                packages.setdefault(_top(module), set()).add(_top(target))
    assert "partitions" in packages["ops"]  # the walker sees function-level edges
    assert _cycles(packages) == []


def test_no_feature_imports_the_service_or_the_cli() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _graph(every_import=True).items()
        if _top(module) in FEATURES + BELOW_FEATURES
        for target in targets
        if _top(target) in UPPER
    )
    assert upward == []


def test_the_checks_see_real_edges() -> None:
    """Guard against a walker that finds nothing (and so passes everything)."""
    graph = _graph(every_import=False)
    assert "pgwarden.db.pool" in graph["pgwarden.services"]
    assert "pgwarden.settings" in graph["pgwarden.db.pool"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
