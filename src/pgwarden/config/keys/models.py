"""Runtime keys of the models feature."""

from pgwarden.config.declare import Key

KEYS = [
    Key(
        "models.active_cache_ttl",
        "float",
        300.0,
        "how long a process serves the cached ACTIVE model set; promote/archive invalidate "
        "it at once here and by NOTIFY elsewhere, this bounds a missed notice",
        min=0,
        max=86400,
        unit="seconds",
    ),
    Key(
        "models.strict",
        "bool",
        False,
        "a cycle in the model graph fails the whole run instead of blocking only its "
        "members and their dependants",
    ),
    Key(
        "models.gate_window",
        "float",
        168.0,
        "promotion gates compare a candidate with the PRIMARY over this many past hours",
        min=1,
        max=24 * 366,
        unit="hours",
    ),
    Key(
        "models.gate_min_cycles",
        "int",
        20,
        "promotion gate: cycles in which both the candidate and the PRIMARY ran",
        min=0,
        max=1_000_000,
        unit="cycles",
    ),
    Key(
        "models.gate_min_coverage",
        "float",
        0.95,
        "promotion gate: share of the PRIMARY's entities the candidate also scored",
        min=0,
        max=1,
    ),
    Key(
        "models.gate_min_agreement",
        "float",
        0.90,
        "promotion gate: share of shared entities with the same decision",
        min=0,
        max=1,
    ),
    Key(
        "models.gate_max_error_rate",
        "float",
        0.05,
        "promotion gate: share of the candidate's runs that FAILED or hit TIMEOUT",
        min=0,
        max=1,
    ),
    Key(
        "models.gate_max_latency_ratio",
        "float",
        2.0,
        "promotion gate: candidate p50 duration over the PRIMARY's p50 duration",
        min=0,
        max=1000,
    ),
]
