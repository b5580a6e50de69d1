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

-- name: job_done
-- Count one finished job, and remember the last error if it failed.
UPDATE {schema}.workers
   SET jobs_done = jobs_done + 1,
       jobs_failed = jobs_failed + CASE WHEN %(error)s::text IS NULL THEN 0 ELSE 1 END,
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
