"""Runtime keys of the partitions feature."""

from pgwarden.config.declare import Key, check_cron

LOCK_TIMEOUT = 2.0  # seconds
SHORT_LOCK_TIMEOUT = 0.1  # seconds
LOCK_RETRIES = 3
RETRY_BACKOFF = 0.2  # seconds
MAX_CREATE_PERIODS = 120
MAINTENANCE_CRON = "7 * * * *"  # hourly
RETENTION_BATCH_SIZE = 5000  # rows
RETENTION_BATCH_PAUSE = 0.05  # seconds
PARALLEL = 2  # connections

KEYS = [
    Key(
        "partitions.lock_timeout",
        "float",
        LOCK_TIMEOUT,
        "SET LOCAL lock_timeout for each table's DDL; a lock not had by then is retried later",
        min=0.01,
        max=60,
        unit="seconds",
    ),
    Key(
        "partitions.lock_retries",
        "int",
        LOCK_RETRIES,
        "retries of one table's DDL after a lock timeout before it is skipped until the next run",
        min=0,
        max=20,
    ),
    Key(
        "partitions.retry_backoff",
        "float",
        RETRY_BACKOFF,
        "first pause before a retry; doubles each time, with jitter",
        min=0,
        max=60,
        unit="seconds",
    ),
    Key(
        "partitions.max_create_periods",
        "int",
        MAX_CREATE_PERIODS,
        "far-future guard: most partitions one run creates for one table",
        min=1,
        max=10000,
    ),
    Key(
        "partitions.detach_concurrently",
        "bool",
        True,
        "detach with DETACH PARTITION ... CONCURRENTLY before dropping, where PostgreSQL allows it",
    ),
    Key(
        "partitions.short_lock_timeout",
        "float",
        SHORT_LOCK_TIMEOUT,
        "lock_timeout of the one try to drop or detach a table's expired partitions in one "
        "transaction; not granted: DETACH CONCURRENTLY (or retries under lock_timeout)",
        min=0.01,
        max=60,
        unit="seconds",
    ),
    Key(
        "partitions.parallel",
        "int",
        PARALLEL,
        "connections one run spreads its tables' creations and short-path removals over "
        "(its own included), each table on one; 1: the tables one after the other",
        min=1,
        max=16,
        unit="connections",
    ),
    Key(
        "partitions.maintenance_cron",
        "str",
        MAINTENANCE_CRON,
        "cron of the periodic partition maintenance task (read at worker start)",
        check=check_cron,
    ),
    Key(
        "partitions.retention_batch_size",
        "int",
        RETENTION_BATCH_SIZE,
        "rows deleted per transaction by row retention on unpartitioned tables",
        min=1,
        max=1_000_000,
        unit="rows",
    ),
    Key(
        "partitions.retention_batch_pause",
        "float",
        RETENTION_BATCH_PAUSE,
        "pause between row-retention batches",
        min=0,
        max=60,
        unit="seconds",
    ),
]
