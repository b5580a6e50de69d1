"""Runtime keys of database health: intervals, budget, timeouts, thresholds, crons."""

from pgwarden.config.declare import Key, check_cron

COLLECT_CRON = "* * * * *"  # every minute: the fast collectors
SLOW_INTERVAL = 900.0  # seconds: sizes (pg_relation_size on every relation)
STATEMENTS_INTERVAL = 300.0  # seconds: pg_stat_statements samples
STORE_INTERVAL = 300.0  # seconds between stored snapshots (rounds in between stay in memory)
SERIES_BUDGET = 5000  # series per target on /metrics
TOP_K_PER_PARENT = 3  # leaves of a partitioned table shown on their own
STATEMENTS_TOP = 20  # statements on /metrics
STATEMENT_TIMEOUT = 5.0  # seconds, per collector query
LOCK_TIMEOUT = 0.5  # seconds
BLOAT_MIN_INDEX = 1 << 20  # bytes
LARGE_INDEX = 100 << 20  # bytes (seed 003 section 3.3)

KEYS = [
    Key("health.enabled", "bool", True, "collect health snapshots in the periodic task"),
    Key(
        "health.watch_self", "bool", True, "watch the database pgwarden runs on as target 'self'"
    ),  # fmt: skip
    Key(
        "health.collect_cron",
        "str",
        COLLECT_CRON,
        "cron of the health collection task (fast collectors; read at worker start)",
        check=check_cron,
    ),  # fmt: skip
    Key(
        "health.slow_interval",
        "float",
        SLOW_INTERVAL,
        "interval of the size collectors, served from cache in between",
        min=60,
        max=86400,
        unit="seconds",
    ),  # fmt: skip
    Key(
        "health.statements_interval",
        "float",
        STATEMENTS_INTERVAL,
        "interval of pg_stat_statements samples",
        min=60,
        max=86400,
        unit="seconds",
    ),  # fmt: skip
    Key(
        "health.store_interval",
        "float",
        STORE_INTERVAL,
        "how often a target's snapshot is stored for reports and rule history",
        min=60,
        max=86400,
        unit="seconds",
    ),
    Key(
        "health.series_budget",
        "int",
        SERIES_BUDGET,
        "most series one target puts on /metrics (top-K, roll-ups and __other__ keep it)",
        min=500,
        max=1_000_000,
        unit="series",
    ),  # fmt: skip
    Key(
        "health.top_k_per_parent",
        "int",
        TOP_K_PER_PARENT,
        "leaf partitions of each partitioned table shown on their own",
        min=0,
        max=100,
    ),
    Key(
        "health.statements_top",
        "int",
        STATEMENTS_TOP,
        "statements on /metrics (by total time); the rest go to reports",
        min=0,
        max=500,
    ),
    Key(
        "health.statement_timeout",
        "float",
        STATEMENT_TIMEOUT,
        "statement_timeout of each collector query; a timed-out collector is skipped",
        min=0.1,
        max=300,
        unit="seconds",
    ),  # fmt: skip
    Key(
        "health.lock_timeout",
        "float",
        LOCK_TIMEOUT,
        "lock_timeout of the collectors: never queue behind an ACCESS EXCLUSIVE lock",
        min=0.01,
        max=60,
        unit="seconds",
    ),  # fmt: skip
    Key(
        "health.bloat_min_index_bytes",
        "int",
        BLOAT_MIN_INDEX,
        "an index bigger than its table is reported only above this size",
        min=0,
        unit="bytes",
    ),  # fmt: skip
    Key(
        "health.large_index_bytes",
        "int",
        LARGE_INDEX,
        "indexes over this size are listed",
        min=0,
        unit="bytes",
    ),  # fmt: skip
    Key(
        "health.rules_path",
        "str",
        "",
        "YAML file of alert rules replacing the shipped ones (empty: the shipped rules)",
        path=True,
    ),
    Key(
        "health.alerts",
        "bool",
        True,
        "evaluate the health rules after each collection and raise alerts",
    ),
]
