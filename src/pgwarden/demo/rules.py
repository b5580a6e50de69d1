"""Quality rules of the demo sources (user_events, transaction_logs, system_metrics, api_calls).

The simulated records look like ``{"id": "user_events-3-17", "timestamp":
"2026-11-21T10:00:00.000000Z", "value": 12.5, "category": "A", "user_id":
"user_42", ...}``; a tenth of them lack the timestamp or carry value -999,
which these rules catch (required timestamp, value range).
"""

from __future__ import annotations

from pgwarden.quality.rulestore import load_rules, set_rules
from pgwarden.services import Services

SOURCES = {
    # source: highest plausible value (the simulator's level times four)
    "user_events": 480,
    "transaction_logs": 1920,
    "system_metrics": 220,
    "api_calls": 920,
}

_TEMPLATE = """\
# demo rules for {source} (pgwarden.demo.rules)
id_field: id
rules:
  - {{kind: required, fields: [id, timestamp, value], severity: high}}
  - {{kind: type, field: value, type: number}}
  - {{kind: range, field: value, min: 0, max: {max}, severity: medium}}
  - {{kind: allowed, field: category, values: [A, B, C, D], severity: low}}
  - {{kind: regex, field: user_id, pattern: '^user_[0-9]+$', severity: low}}
  - {{kind: unique, field: id, window_batches: 20, severity: high}}
  - {{kind: freshness, field: timestamp, max_age: 1h, max_future: 5m}}
  - {{kind: row_count, tolerance: 0.05}}
  - {{kind: schema, severity: low}}
"""


def demo_rules_yaml(source: str) -> str:
    return _TEMPLATE.format(source=source, max=SOURCES[source])


def register_demo_rules(services: Services) -> list[str]:
    """Store the demo rules of each demo source (a new version only when they changed);
    returns the sources."""
    for source in SOURCES:
        text = demo_rules_yaml(source)
        stored = load_rules(services, source)
        if stored is None or stored.yaml != text:
            set_rules(services, source, text, who="pgwarden-demo")
    return list(SOURCES)
