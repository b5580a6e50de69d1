"""Detection models: registry, dependency graph, cycle executor, shadow comparison.

The public, synchronous API the service, CLI and dashboard call. Everything
returns frozen dataclasses with `to_dict()` for JSON.
"""

from pgwarden.models.base import (
    BaseDetectionModel,
    ModelContext,
    ModelResult,
    Role,
    RunStatus,
    Status,
)
from pgwarden.models.compare import CandidateComparison, Comparison, GatePolicy, compare
from pgwarden.models.cycle import get_cycle, run_cycle
from pgwarden.models.executor import CycleReport, VersionRun
from pgwarden.models.operations import (
    OperationResult,
    activate,
    add_dependency,
    add_model,
    add_version,
    archive,
    promote,
    remove_dependency,
    rerole,
    rollback,
    set_enabled,
)
from pgwarden.models.registry import Registry, Snapshot, get_registry
from pgwarden.models.views import (
    ModelGraph,
    ModelInfo,
    events,
    graph,
    list_models,
    recent_cycles,
    run_stats,
)

__all__ = [
    "BaseDetectionModel",
    "CandidateComparison",
    "Comparison",
    "CycleReport",
    "GatePolicy",
    "ModelContext",
    "ModelGraph",
    "ModelInfo",
    "ModelResult",
    "OperationResult",
    "Registry",
    "Role",
    "RunStatus",
    "Snapshot",
    "Status",
    "VersionRun",
    "activate",
    "add_dependency",
    "add_model",
    "add_version",
    "archive",
    "compare",
    "events",
    "get_cycle",
    "get_registry",
    "graph",
    "list_models",
    "promote",
    "recent_cycles",
    "remove_dependency",
    "rerole",
    "rollback",
    "run_cycle",
    "run_stats",
    "set_enabled",
]
