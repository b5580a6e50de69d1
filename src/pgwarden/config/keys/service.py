"""Runtime keys of the service: the pipeline, the sources, the schedules, the API."""

from pgwarden.config.declare import Key, check_cron

KEYS = [
    Key(
        "pipeline.block_severity",
        "str",
        "critical",
        "a batch with a violation of this severity or above is rejected and does not feed "
        "the models ('none' never rejects)",
        choices=("low", "medium", "high", "critical", "none"),
    ),
    Key(
        "pipeline.coalesce_batches",
        "int",
        1,
        "a worker runs the models once over up to this many batches of one source that are "
        "queued together (1: one model cycle per batch); each batch is still checked, scored, "
        "alerted on and recorded on its own",
        min=1,
        max=1000,
    ),
    Key(
        "pipeline.coalesce_max_mb",
        "int",
        64,
        "the batches one model cycle runs over (pipeline.coalesce_batches) hold at most "
        "this many MB of payload in all",
        min=1,
        max=4096,
        unit="MB",
    ),
    Key(
        "pipeline.flush_wait",
        "str",
        "idle",
        "when a worker waits for the WAL flush of a batch's closing commit: 'idle' only when "
        "it has no next job in hand (the WAL writer flushes within wal_writer_delay; a server "
        "crash may take back the last finished batches, which are then processed again), "
        "'batch' after every batch",
        choices=("idle", "batch"),
    ),
    Key(
        "pipeline.keep_payload_hours",
        "int",
        24,
        "raw batch payloads are cleared this long after processing (metrics stay)",
        min=0,
        max=24 * 365,
        unit="hours",
    ),
    Key(
        "sources.inbox_batch_size",
        "int",
        500,
        "rows of the polled inbox table claimed into one batch",
        min=1,
        max=100_000,
    ),
    Key(
        "sources.poll_cron",
        "str",
        "* * * * * */5",
        "cron (with seconds) of the inbox-table and folder pollers (read at worker start)",
        check=check_cron,
    ),
    Key(
        "sources.watch_dir",
        "str",
        "",
        "folder watched for batch files (<dir>/<source>/*.jsonl|json|csv|parquet); empty = off",
        path=True,
    ),
    Key(
        "jobs.stalled_after",
        "float",
        30.0,
        "a worker silent this long is presumed dead and its running jobs are retried "
        "(read at worker start)",
        min=3,
        max=3600,
        unit="seconds",
    ),
    Key(
        "jobs.recover_cron",
        "str",
        "* * * * * */15",
        "cron (with seconds) of the stalled-job recovery (read at worker start)",
        check=check_cron,
    ),
]
