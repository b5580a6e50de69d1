"""Rules in the database: versioned with who and when, validated before they replace
anything, and hot-reloaded through a per-process TTL cache.

`set_rules` parses and validates the whole file first; only a file that
compiles becomes a new version, so a bad file never replaces the last good
rules. Readers see a new version within `quality.rules_ttl` seconds (at once
in the writing process, whose cache is invalidated on write).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from pgwarden.config.runtime import default_actor
from pgwarden.db.queries import Queries
from pgwarden.quality.errors import RulesInvalid, RulesNotFound
from pgwarden.quality.rules import RuleSet, default_rules, parse_yaml
from pgwarden.services import Services

log = logging.getLogger(__name__)

MAX_SOURCE_LENGTH = 200


@dataclass(frozen=True)
class StoredRules:
    source: str
    version: int
    yaml: str
    rules: RuleSet
    created_at: datetime
    created_by: str | None


class _Cache:
    """{(database, schema, source): (loaded_at, RuleSet)}; one per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, str], tuple[float, RuleSet]] = {}

    def get(self, key: tuple[str, str, str], ttl: float, now: float) -> RuleSet | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or now - hit[0] >= ttl:
            return None
        return hit[1]

    def put(self, key: tuple[str, str, str], rules: RuleSet, now: float) -> None:
        with self._lock:
            self._items[key] = (now, rules)

    def drop(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._items.pop(key, None)


_cache = _Cache()


def _key(services: Services, source: str) -> tuple[str, str, str]:
    return (services.db.conninfo, services.db.schema, source)


def check_source(source: Any) -> str:
    if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE_LENGTH:
        raise RulesInvalid(
            str(source), None, "source", source, f"a name of 1..{MAX_SOURCE_LENGTH} characters"
        )
    return source


def validate_rules(source: str, yaml_text: str) -> RuleSet:
    """Parse and compile-check a YAML rules file without storing it; raises RulesInvalid."""
    check_source(source)
    rules = parse_yaml(source, yaml_text)
    # Compile once against an empty frame: catches anything the parser let through.
    # Lazy for start-up time: the evaluator imports polars (about 0.5 s).
    from pgwarden.quality.evaluator import compile_check

    compile_check(rules)
    return rules


def set_rules(
    services: Services,
    source: str,
    yaml_text: str,
    who: str | None = None,
    *,
    allow_empty: bool = False,
) -> StoredRules:
    """Validate and store a new version of a source's rules; returns it.

    Raises RulesInvalid (naming source, rule, field and value) and stores nothing
    when the file is bad: the last good version stays active. A file with no
    rules would silently replace the active ones: refused unless `allow_empty`.
    """
    rules = validate_rules(source, yaml_text)
    if not rules.rules and not allow_empty:
        raise RulesInvalid(
            source,
            None,
            "rules",
            "0 rules",
            "the file holds no rules and would replace the active ones; "
            "pass --allow-empty to store an empty rule set",
        )
    who = who or default_actor()
    q = Queries("pgwarden.quality", services.db.schema)
    with services.db.connection() as conn, conn.transaction():
        conn.execute(q["lock_rules"], {"source": source})
        row = conn.execute(
            q["insert_rules"],
            {"source": source, "yaml": yaml_text, "rules": Jsonb(rules.to_dict()), "who": who},
        ).fetchone()
    assert row is not None
    version, created_at = row
    _cache.drop(_key(services, source))
    log.info(
        "rules of %s stored as version %s by %s",
        source,
        version,
        who,
        extra={"action": "quality_rules_set", "source": source, "version": version},
    )
    stored = RuleSet(
        source=source,
        rules=rules.rules,
        id_field=rules.id_field,
        metadata_checks=rules.metadata_checks,
        weights=rules.weights,
        version=version,
    )
    return StoredRules(source, version, yaml_text, stored, created_at, who)


def get_rules(services: Services, source: str, *, clock: Any = time.monotonic) -> RuleSet:
    """The active rules of a source (cached for quality.rules_ttl); the seed's metadata
    checks only when none are stored."""
    key = _key(services, source)
    ttl = float(services.config.get("quality.rules_ttl"))
    now = clock()
    cached = _cache.get(key, ttl, now)
    if cached is not None:
        return cached
    stored = load_rules(services, source)
    rules = stored.rules if stored is not None else default_rules(source)
    _cache.put(key, rules, now)
    return rules


def load_rules(services: Services, source: str, version: int | None = None) -> StoredRules | None:
    """One stored version (the latest when version is None), uncached; None if none."""
    q = Queries("pgwarden.quality", services.db.schema)
    with services.db.connection() as conn:
        if version is None:
            row = conn.execute(q["latest_rules"], {"source": source}).fetchone()
        else:
            row = conn.execute(
                q["rules_version"], {"source": source, "version": version}
            ).fetchone()
    if row is None:
        if version is not None:
            raise RulesNotFound(source, version)
        return None
    version, yaml_text, _doc, created_at, created_by = row
    # The YAML was validated when stored; re-parse it so the RuleSet is exactly its text.
    parsed = parse_yaml(source, yaml_text)
    rules = RuleSet(
        source=source,
        rules=parsed.rules,
        id_field=parsed.id_field,
        metadata_checks=parsed.metadata_checks,
        weights=parsed.weights,
        version=version,
        completeness=parsed.completeness,
    )
    return StoredRules(source, version, yaml_text, rules, created_at, created_by)


def rules_history(services: Services, source: str) -> list[dict[str, Any]]:
    q = Queries("pgwarden.quality", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["rules_history"], {"source": source}).fetchall()
    return [{"version": r[0], "created_at": r[1], "created_by": r[2], "rules": r[3]} for r in rows]


def list_rules(services: Services) -> list[dict[str, Any]]:
    q = Queries("pgwarden.quality", services.db.schema)
    with services.db.connection() as conn:
        rows = conn.execute(q["list_rules"]).fetchall()
    return [
        {"source": r[0], "version": r[1], "created_at": r[2], "created_by": r[3], "rules": r[4]}
        for r in rows
    ]
