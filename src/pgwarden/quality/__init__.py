"""Batch data-quality monitoring: rules, scores, anomalies, alerts, daily reports.

The public functions are re-exported here lazily: `import pgwarden.quality`
stays cheap (polars alone takes about half a second to import), and the
heavy modules load on first use.

- `read_batch(data, fmt=None, *, source=...) -> polars.DataFrame`
- `check_batch(batch, rules, now, *, context=None, options=None) -> BatchResult` (pure)
- `store_batch(services, batch, *, frame=None, reject_reason=None, rules=None) -> Stored`
  (check and store, once per batch id)
- `after_batch(conn, schema, result, config, tz) -> HookOutcome | None` (anomalies,
  alerts, daily state for a stored batch; the pipeline calls it next)
- `make_batch(source=, data=, batch_id=, received_at=, fmt=, metadata=) -> DataBatch`
- `set_rules(services, source, yaml_text, who)`, `get_rules(services, source)`,
  `validate_rules(source, yaml_text)`, `parse_yaml(source, text)`, `build(source, rules)`
- `list_batches(services, source=None, status=None, since=None, limit=100)`,
  `get_batch(services, batch_id) -> BatchResult | None`
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pgwarden.quality.model import (
    BatchMetadata,
    BatchResult,
    BatchStatus,
    QualityLevel,
    Scores,
    Severity,
    Violation,
)

if TYPE_CHECKING:
    # What the lazy names below are, for the type checker and the reader; at run
    # time they load on first use, for start-up time (the checker, the store and
    # the rule store bring polars and the database edge, seconds on a busy host).
    from pgwarden.quality.batch import DataBatch, read_batch
    from pgwarden.quality.check import CheckOptions, check_batch
    from pgwarden.quality.errors import BatchInvalid, RulesInvalid
    from pgwarden.quality.evaluator import CheckContext
    from pgwarden.quality.hooks import HookOutcome, after_batch
    from pgwarden.quality.process import Stored, make_batch, options_from_config, store_batch
    from pgwarden.quality.rules import Rule, RuleSet, build, parse_rules, parse_yaml
    from pgwarden.quality.rulestore import (
        get_rules,
        list_rules,
        load_rules,
        rules_history,
        set_rules,
        validate_rules,
    )
    from pgwarden.quality.store import get_batch, list_batches

_LAZY = {
    "DataBatch": "pgwarden.quality.batch",
    "read_batch": "pgwarden.quality.batch",
    "check_batch": "pgwarden.quality.check",
    "CheckOptions": "pgwarden.quality.check",
    "store_batch": "pgwarden.quality.process",
    "Stored": "pgwarden.quality.process",
    "after_batch": "pgwarden.quality.hooks",
    "HookOutcome": "pgwarden.quality.hooks",
    "make_batch": "pgwarden.quality.process",
    "options_from_config": "pgwarden.quality.process",
    "set_rules": "pgwarden.quality.rulestore",
    "get_rules": "pgwarden.quality.rulestore",
    "load_rules": "pgwarden.quality.rulestore",
    "validate_rules": "pgwarden.quality.rulestore",
    "rules_history": "pgwarden.quality.rulestore",
    "list_rules": "pgwarden.quality.rulestore",
    "Rule": "pgwarden.quality.rules",
    "RuleSet": "pgwarden.quality.rules",
    "parse_yaml": "pgwarden.quality.rules",
    "parse_rules": "pgwarden.quality.rules",
    "build": "pgwarden.quality.rules",
    "list_batches": "pgwarden.quality.store",
    "get_batch": "pgwarden.quality.store",
    "CheckContext": "pgwarden.quality.evaluator",
    "BatchInvalid": "pgwarden.quality.errors",
    "RulesInvalid": "pgwarden.quality.errors",
}

__all__ = [
    "BatchInvalid",
    "BatchMetadata",
    "BatchResult",
    "BatchStatus",
    "CheckContext",
    "CheckOptions",
    "DataBatch",
    "HookOutcome",
    "QualityLevel",
    "Rule",
    "RuleSet",
    "RulesInvalid",
    "Scores",
    "Severity",
    "Stored",
    "Violation",
    "after_batch",
    "build",
    "check_batch",
    "get_batch",
    "get_rules",
    "list_batches",
    "list_rules",
    "load_rules",
    "make_batch",
    "options_from_config",
    "parse_rules",
    "parse_yaml",
    "read_batch",
    "rules_history",
    "set_rules",
    "store_batch",
    "validate_rules",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pgwarden.quality' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
