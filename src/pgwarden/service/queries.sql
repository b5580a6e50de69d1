-- name: register_worker
-- A worker announces itself (a restarted worker with the same name starts afresh).
INSERT INTO {schema}.workers (name, hostname, pid, concurrency)
VALUES (%(name)s, %(hostname)s, %(pid)s, %(concurrency)s)
ON CONFLICT (name) DO UPDATE
   SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, concurrency = EXCLUDED.concurrency,
       started_at = now(), last_seen = now(), stopped_at = NULL;

-- name: touch_worker
-- A worker is still alive.
UPDATE {schema}.workers SET last_seen = now() WHERE name = %(name)s;

-- name: stop_worker
-- A worker stopped cleanly.
UPDATE {schema}.workers SET stopped_at = now(), last_seen = now() WHERE name = %(name)s;

-- name: jobs_done
-- Count finished jobs (and failed ones among them), and remember the last error if any.
UPDATE {schema}.workers
   SET jobs_done = jobs_done + %(done)s,
       jobs_failed = jobs_failed + %(failed)s,
       last_error = coalesce(%(error)s, last_error),
       last_error_at = CASE WHEN %(error)s::text IS NULL THEN last_error_at ELSE now() END,
       last_seen = now()
 WHERE name = %(name)s;

-- name: list_workers
-- Every worker we have heard of, with whether it is alive.
SELECT name, hostname, pid, concurrency, started_at, last_seen, stopped_at,
       jobs_done, jobs_failed, last_error, last_error_at,
       (stopped_at IS NULL AND last_seen > now() - make_interval(secs => %(stale)s)) AS alive
  FROM {schema}.workers
 ORDER BY alive DESC, last_seen DESC;

-- name: record_heartbeat
-- The heartbeat task ran on this worker.
INSERT INTO {schema}.heartbeats (worker) VALUES (%(worker)s)
ON CONFLICT (worker) DO UPDATE SET beats = heartbeats.beats + 1, last_at = now();

-- name: last_heartbeat
-- The most recent heartbeat of any worker.
SELECT worker, last_at FROM {schema}.heartbeats ORDER BY last_at DESC LIMIT 1;

-- name: insert_batch
-- Store an incoming batch; the job that processes it is queued in the same transaction.
INSERT INTO {schema}.ingest_batches
       (batch_id, source, channel, received_at, format, payload, payload_bytes, metadata)
VALUES (%(batch_id)s, %(source)s, %(channel)s, %(received_at)s, %(format)s, %(payload)s,
        %(payload_bytes)s, %(metadata)s)
ON CONFLICT (batch_id) DO NOTHING
RETURNING batch_id;

-- name: enqueue_process
-- Queue the processing job atomically with the batch row (procrastinate's own defer function).
-- Jobs of one source share a lock, so a source's batches are processed one at a time, in order.
SELECT {schema}.procrastinate_defer_jobs_v1(ARRAY[
         ROW(%(queue)s, %(task)s, 0, %(lock)s, NULL, %(args)s::jsonb, NULL)
       ]::{schema}.procrastinate_job_to_defer_v1[]);

-- name: async_commit_local
-- This transaction's commit need not wait for the WAL flush: the batch's closing
-- commit (finish_batch) waits, and WAL is flushed in order.
SET LOCAL synchronous_commit = off;

-- name: sync_commit_local
-- This transaction's commit waits as the server is set to (undoes async_commit_local).
SET LOCAL synchronous_commit TO DEFAULT;

-- name: claim_batch
-- Take a batch for processing; a batch already finished is not taken again.
UPDATE {schema}.ingest_batches
   SET status = 'PROCESSING', attempts = attempts + 1, started_at = clock_timestamp()
 WHERE batch_id = %(batch_id)s AND status IN ('PENDING', 'PROCESSING', 'FAILED')
RETURNING batch_id, source, received_at, format, payload, metadata, attempts, coalesced_into;

-- name: coalesce_new
-- A claimed batch starts a group (pipeline.coalesce_batches): the batches of its source
-- queued right behind it, in the order procrastinate would run their jobs (which share
-- the source's lock, held by this batch's job, so no other worker can take them), up to
-- %(more)s batches and %(max_bytes)s bytes of payload in all. They are claimed and marked
-- as the group's, with the first batch, in this statement: a retry re-forms the same
-- group. No row: nothing queued behind it (no group, the batch goes alone).
WITH queued AS (
    SELECT b.batch_id, j.id AS job_id, j.priority,
           %(bytes)s + sum(b.payload_bytes) OVER (ORDER BY j.priority DESC, j.id) AS upto
      FROM {schema}.ingest_batches b
      JOIN {schema}.procrastinate_jobs j
        ON (j.args->>'batch_id') = b.batch_id AND j.status = 'todo'
     WHERE b.source = %(source)s AND b.status = 'PENDING' AND b.coalesced_into IS NULL
       AND b.batch_id <> %(batch_id)s AND j.lock = %(lock)s AND j.task_name = %(task)s
     ORDER BY j.priority DESC, j.id
     LIMIT %(more)s
), members AS (  -- locked here: FOR UPDATE is not allowed beside the window sum
    SELECT b.batch_id, q.job_id, q.priority
      FROM queued q JOIN {schema}.ingest_batches b USING (batch_id)
     WHERE q.upto <= %(max_bytes)s
       FOR UPDATE OF b SKIP LOCKED
), claimed AS (
    UPDATE {schema}.ingest_batches b
       SET status = 'PROCESSING', attempts = b.attempts + 1, started_at = clock_timestamp(),
           coalesced_into = %(batch_id)s
      FROM members m
     WHERE b.batch_id = m.batch_id AND b.status = 'PENDING'
    RETURNING b.batch_id, b.source, b.received_at, b.format, b.payload, b.metadata,
              b.attempts, b.coalesced_into, m.job_id, m.priority
), first AS (
    UPDATE {schema}.ingest_batches SET coalesced_into = %(batch_id)s
     WHERE batch_id = %(batch_id)s AND EXISTS (SELECT 1 FROM claimed)
)
SELECT batch_id, source, received_at, format, payload, metadata, attempts, coalesced_into,
       job_id
  FROM claimed ORDER BY priority DESC, job_id;

-- name: coalesce_again
-- A claimed batch of a group formed before (a retry, or a job run after its group's
-- first failed): the group's other batches not finished yet, claimed again, with the jobs
-- still queued for them (finished with the group's closing commit).
WITH claimed AS (
    UPDATE {schema}.ingest_batches b
       SET status = 'PROCESSING', attempts = b.attempts + 1, started_at = clock_timestamp()
     WHERE b.coalesced_into = %(group_id)s AND b.batch_id <> %(batch_id)s
       AND b.status IN ('PENDING', 'PROCESSING', 'FAILED')
    RETURNING b.batch_id, b.source, b.received_at, b.format, b.payload, b.metadata,
              b.attempts, b.coalesced_into
)
SELECT c.*, (SELECT min(j.id) FROM {schema}.procrastinate_jobs j
              WHERE (j.args->>'batch_id') = c.batch_id AND j.status = 'todo') AS job_id
  FROM claimed c ORDER BY c.received_at, c.batch_id;

-- name: finish_group_jobs
-- The queued jobs of a group's other batches succeed with the group's closing commit (their
-- batches are finished in it), before the next job is fetched.
UPDATE {schema}.procrastinate_jobs
   SET status = 'succeeded', attempts = attempts + 1
 WHERE id = ANY(%(job_ids)s::bigint[]) AND status = 'todo';

-- name: finish_batch
-- Record the outcome of processing.
UPDATE {schema}.ingest_batches
   SET status = %(status)s, records = %(records)s, quality_level = %(level)s,
       quality_overall = %(overall)s, reject_reason = %(reject_reason)s, error = %(error)s,
       cycle_id = %(cycle_id)s, models_ok = %(models_ok)s, models_failed = %(models_failed)s,
       processed_at = clock_timestamp(),
       duration_seconds = extract(epoch FROM clock_timestamp() - started_at)
 WHERE batch_id = %(batch_id)s;

-- name: get_batch
-- One batch's processing record.
SELECT batch_id, source, channel, received_at, format, payload_bytes, metadata, status, attempts,
       records, quality_level, quality_overall, reject_reason, error, cycle_id, models_ok,
       models_failed, started_at, processed_at, duration_seconds
  FROM {schema}.ingest_batches WHERE batch_id = %(batch_id)s;

-- name: list_batches
-- Batches, newest first, with optional filters.
SELECT batch_id, source, channel, received_at, format, payload_bytes, metadata, status, attempts,
       records, quality_level, quality_overall, reject_reason, error, cycle_id, models_ok,
       models_failed, started_at, processed_at, duration_seconds
  FROM {schema}.ingest_batches
 WHERE (%(source)s::text IS NULL OR source = %(source)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
 ORDER BY received_at DESC, batch_id
 LIMIT %(limit)s;

-- name: clear_old_payloads
-- Drop raw payloads of finished batches past the keep window (the metrics stay).
UPDATE {schema}.ingest_batches SET payload = NULL
 WHERE payload IS NOT NULL AND status IN ('DONE', 'REJECTED')
   AND processed_at < now() - make_interval(hours => %(hours)s);

-- name: claim_inbox
-- Claim the oldest unclaimed inbox rows of one source; other workers skip them.
WITH picked AS (
    SELECT id FROM {schema}.ingest_inbox
     WHERE batch_id IS NULL AND source = %(source)s
     ORDER BY id
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.ingest_inbox i SET batch_id = %(batch_id)s
  FROM picked WHERE i.id = picked.id
RETURNING i.id, i.record;

-- name: inbox_sources
-- Sources with unclaimed inbox rows.
SELECT DISTINCT source FROM {schema}.ingest_inbox WHERE batch_id IS NULL;

-- name: source_summary
-- Per source: batches, records and outcomes over a window.
SELECT source,
       count(*) AS batches,
       coalesce(sum(records), 0) AS records,
       count(*) FILTER (WHERE status = 'REJECTED') AS rejected,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')) AS pending,
       avg(quality_overall) AS avg_quality,
       avg(duration_seconds) AS avg_seconds,
       max(received_at) AS last_batch
  FROM {schema}.ingest_batches
 WHERE received_at >= %(since)s
 GROUP BY source ORDER BY source;

-- name: insert_token
-- Store a new API token's hash.
INSERT INTO {schema}.api_tokens (name, token_sha256) VALUES (%(name)s, %(sha)s);

-- name: token_valid
-- Is this token hash a live token?
SELECT 1 FROM {schema}.api_tokens WHERE token_sha256 = %(sha)s AND revoked_at IS NULL;

-- name: token_count
-- How many live tokens exist.
SELECT count(*) FROM {schema}.api_tokens WHERE revoked_at IS NULL;

-- name: metric_batches
-- Batches and records by source and status, since the start (monotonic while rows are kept).
SELECT source, status, count(*), coalesce(sum(records), 0)
  FROM {schema}.ingest_batches GROUP BY source, status;

-- name: metric_quality
-- Mean overall quality per source over the last hour.
SELECT source, avg(quality_overall)
  FROM {schema}.ingest_batches
 WHERE quality_overall IS NOT NULL AND received_at > now() - interval '1 hour'
 GROUP BY source;

-- name: metric_lag
-- Ingest-to-done lag of batches finished in the last hour.
SELECT source, avg(extract(epoch FROM processed_at - received_at)),
       max(extract(epoch FROM processed_at - received_at))
  FROM {schema}.ingest_batches
 WHERE status = 'DONE' AND processed_at > now() - interval '1 hour'
 GROUP BY source;

-- name: metric_queue
-- Jobs waiting per queue.
SELECT queue_name, count(*) FROM {schema}.procrastinate_jobs WHERE status = 'todo'
 GROUP BY queue_name;

-- name: timeline
-- Per source and time bucket: batches, records and mean quality over a window.
SELECT source, date_bin(make_interval(secs => %(bucket)s), received_at, TIMESTAMPTZ 'epoch') AS t,
       count(*), coalesce(sum(records), 0), avg(quality_overall),
       avg(extract(epoch FROM processed_at - received_at)) FILTER (WHERE status = 'DONE')
  FROM {schema}.ingest_batches
 WHERE received_at >= %(since)s
 GROUP BY source, t ORDER BY t;

-- name: throughput
-- Records and batches finished in a recent window.
SELECT coalesce(sum(records), 0), count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
  FROM {schema}.ingest_batches
 WHERE processed_at >= %(since)s AND status IN ('DONE', 'REJECTED');

-- name: source_known
-- Has this source ever sent a batch or been given rules?
SELECT EXISTS (SELECT 1 FROM {schema}.ingest_batches WHERE source = %(source)s)
    OR EXISTS (SELECT 1 FROM {schema}.quality_rules WHERE source = %(source)s);

-- name: claim_step
-- Record a batch's step as done, in the transaction that does it; no row back: done already.
INSERT INTO {schema}.batch_steps (batch_id, step) VALUES (%(batch_id)s, %(step)s)
ON CONFLICT (batch_id, step) DO NOTHING
RETURNING 1;

-- name: incomplete_after_batch
-- Finished batches of the last day, stored by quality, whose after-batch step has no record
-- (it failed, or ran before the record existed): the sweep runs it.
SELECT i.batch_id
FROM {schema}.ingest_batches i
WHERE i.received_at > now() - interval '1 day'
  AND i.status IN ('DONE', 'REJECTED')
  AND i.processed_at < now() - make_interval(secs => %(settle)s)
  AND EXISTS (SELECT 1 FROM {schema}.quality_batches q WHERE q.batch_id = i.batch_id)
  AND NOT EXISTS (SELECT 1 FROM {schema}.batch_steps s
                  WHERE s.batch_id = i.batch_id AND s.step = 'after_batch')
ORDER BY i.received_at
LIMIT %(limit)s;

-- name: finish_own_job
-- The pipeline task finishes its own procrastinate job in the batch's closing transaction
-- (what procrastinate_finish_job_v1 does to a 'doing' job); no row: the job is not this
-- worker's any more (the stalled-job recovery took it back).
UPDATE {schema}.procrastinate_jobs
   SET status = 'succeeded', abort_requested = false, attempts = attempts + 1
 WHERE id = %(job_id)s AND status = 'doing' AND worker_id = %(worker_id)s
RETURNING id;

-- name: fetch_next_job
-- ... and fetches the worker's next job there too (procrastinate's fetch_job, same columns)
-- and, when it is a batch job (%(claim_task)s), claims its batch (as claim_batch does): the
-- worker goes from this commit straight to the next batch's payload. The column after the
-- job's sets this transaction's commit not to wait for the WAL flush when a next job was
-- found and pipeline.flush_wait is 'idle'; the claimed batch's columns follow (NULL: no
-- batch job, or its batch is finished already).
WITH j AS (
    SELECT * FROM {schema}.procrastinate_fetch_job_v2(%(queues)s::varchar[], %(worker_id)s)
), claimed AS (
    UPDATE {schema}.ingest_batches b
       SET status = 'PROCESSING', attempts = b.attempts + 1, started_at = clock_timestamp()
      FROM j
     WHERE j.task_name = %(claim_task)s AND b.batch_id = j.args->>'batch_id'
       AND b.status IN ('PENDING', 'PROCESSING', 'FAILED')
    RETURNING b.batch_id, b.source, b.received_at, b.format, b.payload, b.metadata, b.attempts,
              b.coalesced_into
)
SELECT j.id, j.status, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
       j.scheduled_at, j.queue_name, j.attempts, j.worker_id,
       set_config('synchronous_commit',
                  CASE WHEN j.id IS NOT NULL AND %(flush_wait)s = 'idle' THEN 'off'
                       ELSE current_setting('synchronous_commit') END,
                  true),
       c.batch_id, c.source, c.received_at, c.format, c.payload, c.metadata, c.attempts,
       c.coalesced_into
  FROM j LEFT JOIN claimed c ON true;

-- name: fail_own_job
-- A job run in a chain failed for good (procrastinate's finish as 'failed').
SELECT {schema}.procrastinate_finish_job_v1(%(job_id)s, 'failed', false);

-- name: retry_own_job
-- A job run in a chain failed and is retried later (procrastinate's retry_job).
SELECT {schema}.procrastinate_retry_job_v2(%(job_id)s, %(retry_at)s, %(priority)s, %(queue)s,
                                            %(lock)s);

-- name: release_job
-- A job fetched for a worker that stopped before running it goes back to the queue, as if
-- never fetched (not a retry: no attempt is counted).
UPDATE {schema}.procrastinate_jobs SET status = 'todo', worker_id = NULL
 WHERE id = %(job_id)s AND status = 'doing';

-- name: release_claim
-- ... and its batch, claimed when the job was fetched, waits again as it did before.
UPDATE {schema}.ingest_batches
   SET status = 'PENDING', attempts = greatest(attempts - 1, 0), started_at = NULL
 WHERE batch_id = %(batch_id)s AND status = 'PROCESSING';
