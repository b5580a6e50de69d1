"""Runtime keys of the quality feature."""

from pgwarden.config.declare import Key

KEYS: list[Key] = [
    Key(
        "quality.rules_ttl",
        "float",
        10.0,
        "how long a process keeps a source's rules before re-reading them (writes in the "
        "same process invalidate at once)",
        min=0,
        max=3600,
        unit="seconds",
    ),
    Key(
        "quality.level_excellent",
        "float",
        0.9,
        "lowest overall score of level EXCELLENT",
        min=0,
        max=1,
    ),
    Key("quality.level_good", "float", 0.8, "lowest overall score of level GOOD", min=0, max=1),
    Key(
        "quality.level_acceptable",
        "float",
        0.7,
        "lowest overall score of level ACCEPTABLE",
        min=0,
        max=1,
    ),
    Key(
        "quality.level_poor",
        "float",
        0.5,
        "lowest overall score of level POOR (below it: CRITICAL)",
        min=0,
        max=1,
    ),
    Key(
        "quality.sample_ids",
        "int",
        20,
        "sample record ids kept per violation",
        min=0,
        max=20,
    ),
    Key(
        "quality.max_value_bytes",
        "int",
        1_048_576,
        "a batch holding a longer string value is rejected",
        min=1024,
        max=1_073_741_824,
        unit="bytes",
    ),
    Key(
        "quality.metadata_max_age",
        "float",
        3600.0,
        "batch metadata data_freshness older than this at receipt is a violation",
        min=1,
        max=30 * 86400,
        unit="seconds",
    ),
    Key(
        "quality.expected_records_max",
        "int",
        1_000_000,
        "batch metadata expected_records above this is a violation",
        min=1,
        max=2_000_000_000,
    ),
    Key(
        "quality.seen_ids_retention_hours",
        "float",
        168.0,
        "ids kept for cross-batch uniqueness; a unique rule's window is capped at this age",
        min=1,
        max=24 * 366,
        unit="hours",
    ),
]
