"""Runtime keys of the operations feature (backups, lifecycle, maintenance, capacity)."""

from pgwarden.config.declare import Key, check_cron

BACKUP_CRON = "30 2 * * *"  # daily (seed 003: daily full dump)
VERIFY_CRON = "30 4 1 * *"  # monthly restore test (seed 003)
PRUNE_CRON = "0 5 * * *"
RETENTION_CRON = "15 3 * * *"  # daily (seed 000's stale-score clean-up)
MASK_CRON = "45 3 * * *"
ANALYZE_CRON = "0 4 * * 0"  # weekly (seed 003 9.2)
REINDEX_CRON = "0 4 2 * *"  # monthly (seed 003 9.3)
CAPACITY_CRON = "50 23 * * *"  # one size sample a day
PITR_CHECK_CRON = "0 6 * * *"  # daily, when a stanza is configured
PITR_DRILL_CRON = "30 5 3 * *"  # monthly (research 6.5)
COMMAND_TIMEOUT = 6 * 3600.0  # seconds, per external command
BATCH_SIZE = 5000  # rows
BATCH_PAUSE = 0.05  # seconds
LOCK_TIMEOUT = 2.0  # seconds
DAILIES_DAYS = 30  # seed 003: 30-day retention
WEEKLIES = 8
MONTHLIES = 12
MIN_VERIFIED = 1
REINDEX_BLOAT_PCT = 30.0
REINDEX_MIN_BYTES = 100 * 1024 * 1024
CAPACITY_ALERT_DAYS = 30
FALLBACK_GROWTH = 0.20  # per year, seed 003 8.1

KEYS = [
    Key("ops.backup_cron", "str", BACKUP_CRON, "cron of the logical backup", check=check_cron),
    Key("ops.verify_cron", "str", VERIFY_CRON, "cron of the restore test", check=check_cron),
    Key("ops.prune_cron", "str", PRUNE_CRON, "cron of backup pruning (GFS)", check=check_cron),
    Key(
        "ops.retention_cron", "str", RETENTION_CRON, "cron of retention policies", check=check_cron
    ),
    Key("ops.mask_cron", "str", MASK_CRON, "cron of masking policies", check=check_cron),
    Key("ops.analyze_cron", "str", ANALYZE_CRON, "cron of the ANALYZE pass", check=check_cron),
    Key("ops.reindex_cron", "str", REINDEX_CRON, "cron of the REINDEX pass", check=check_cron),
    Key("ops.capacity_cron", "str", CAPACITY_CRON, "cron of the size sample", check=check_cron),
    Key(
        "ops.pitr_check_cron",
        "str",
        PITR_CHECK_CRON,
        "cron of `pgbackrest check` + info (skipped while ops.pgbackrest_stanza is empty)",
        check=check_cron,
    ),
    Key(
        "ops.pitr_drill_cron",
        "str",
        PITR_DRILL_CRON,
        "cron of the PITR drill (skipped while ops.pgbackrest_stanza is empty)",
        check=check_cron,
    ),
    Key(
        "ops.pitr_drill_port",
        "int",
        55432,
        "port of the drill's scratch server (it listens on a Unix socket only)",
        min=1024,
        max=65535,
    ),
    Key(
        "ops.backup_dir",
        "str",
        "",
        "where backups are written; empty: 'backups' next to the embedded data directory",
        path=True,
    ),
    Key(
        "ops.bin_dir",
        "str",
        "",
        "directory of pg_dump / pg_restore; empty: the embedded wheel's, then PATH",
        path=True,
    ),
    Key(
        "ops.command_timeout",
        "float",
        COMMAND_TIMEOUT,
        "hard timeout of one pg_dump / pg_restore / pgbackrest invocation",
        min=1,
        max=7 * 86400,
        unit="seconds",
    ),
    Key("ops.backup_jobs", "int", 1, "parallel jobs of pg_dump -Fd and pg_restore", min=1, max=64),
    Key(
        "ops.verify_after_backup",
        "bool",
        False,
        "restore-test every backup right after it is taken",
    ),
    Key(
        "ops.min_verified_backups",
        "int",
        MIN_VERIFIED,
        "pruning never leaves fewer verified backups than this",
        min=0,
        max=1000,
    ),
    Key(
        "ops.keep_daily_days",
        "int",
        DAILIES_DAYS,
        "keep every backup younger than this",
        min=0,
        max=3650,
        unit="days",
    ),
    Key(
        "ops.keep_weekly",
        "int",
        WEEKLIES,
        "keep the newest backup of each of the last N weeks",
        min=0,
        max=520,
        unit="weeks",
    ),
    Key(
        "ops.keep_monthly",
        "int",
        MONTHLIES,
        "keep the newest backup of each of the last N months",
        min=0,
        max=600,
        unit="months",
    ),
    Key(
        "ops.batch_size",
        "int",
        BATCH_SIZE,
        "rows per batch (its own transaction) of retention deletes and masking updates",
        min=1,
        max=1_000_000,
        unit="rows",
    ),
    Key(
        "ops.batch_pause",
        "float",
        BATCH_PAUSE,
        "pause between batches of retention and masking",
        min=0,
        max=60,
        unit="seconds",
    ),
    Key(
        "ops.lock_timeout",
        "float",
        LOCK_TIMEOUT,
        "lock_timeout of each batch and each maintenance statement",
        min=0.01,
        max=60,
        unit="seconds",
    ),
    Key(
        "ops.lock_retries",
        "int",
        3,
        "retries of a maintenance statement after a lock timeout",
        min=0,
        max=20,
    ),
    Key(
        "ops.mask_salt",
        "str",
        "",
        "secret mixed into the 'hash' masking method (stable pseudonyms; set it once)",
        secret=True,
    ),
    Key(
        "ops.reindex_bloat_pct",
        "float",
        REINDEX_BLOAT_PCT,
        "REINDEX an index whose estimated bloat is over this",
        min=0,
        max=100,
        unit="percent",
    ),
    Key(
        "ops.reindex_min_bytes",
        "int",
        REINDEX_MIN_BYTES,
        "only indexes at least this large are REINDEX candidates",
        min=0,
        unit="bytes",
    ),
    Key(
        "ops.autovacuum",
        "dict",
        {},
        'per-table autovacuum settings: {"schema.table": {"autovacuum_vacuum_scale_factor": 0.05}}',
    ),
    Key(
        "ops.capacity_limit",
        "int",
        0,
        "bytes the database may grow to; 0: the size of the data directory's disk",
        min=0,
        unit="bytes",
    ),
    Key(
        "ops.capacity_alert_days",
        "int",
        CAPACITY_ALERT_DAYS,
        "warn when the limit is projected within this many days",
        min=1,
        max=3650,
        unit="days",
    ),
    Key(
        "ops.capacity_fallback_growth",
        "float",
        FALLBACK_GROWTH,
        "yearly growth assumed while the size history is shorter than a week (seed: 20 %)",
        min=0,
        max=100,
        unit="fraction per year",
    ),
    Key(
        "ops.pgbackrest_stanza",
        "str",
        "",
        "pgBackRest stanza of this server; empty: PITR is not configured",
    ),
    Key(
        "ops.pgbackrest_config",
        "str",
        "",
        "path of the pgBackRest configuration written by `ops pitr config`",
        path=True,
    ),
]
