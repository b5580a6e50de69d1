"""Runtime keys of the foundation: jobs, heartbeats, clean-up."""

from pgwarden.config.declare import Key, check_cron

KEYS = [
    Key(
        "jobs.heartbeat_cron",
        "str",
        "* * * * *",
        "cron of the heartbeat task that records worker liveness (read at worker start)",
        check=check_cron,
    ),
    Key(
        "jobs.cleanup_cron",
        "str",
        "17 * * * *",
        "cron of procrastinate's old-job clean-up (read at worker start)",
        check=check_cron,
    ),
    Key(
        "jobs.cleanup_max_hours",
        "int",
        72,
        "finished jobs older than this are removed by the clean-up task",
        min=1,
        max=24 * 365,
        unit="hours",
    ),
    Key(
        "workers.stale_after",
        "float",
        60.0,
        "a worker whose last beat is older than this is shown as not alive",
        min=5,
        max=3600,
        unit="seconds",
    ),
]
