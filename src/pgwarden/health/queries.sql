-- name: list_targets
-- Every stored target.
SELECT name, dsn, enabled, created_at FROM {schema}.health_targets ORDER BY name

-- name: insert_target
-- Add a target (a name already there is an error the edge turns into a message).
INSERT INTO {schema}.health_targets (name, dsn, created_by)
VALUES (%(name)s, %(dsn)s, %(who)s)

-- name: delete_target
-- Remove a target; returns its name when it existed.
DELETE FROM {schema}.health_targets WHERE name = %(name)s RETURNING name

-- name: insert_snapshot
-- Store one compact snapshot.
INSERT INTO {schema}.health_snapshots (target, taken_at, up, version_num, error,
                                       duration_seconds, data)
VALUES (%(target)s, %(taken_at)s, %(up)s, %(version_num)s, %(error)s, %(duration)s, %(data)s)
ON CONFLICT (target, taken_at) DO NOTHING

-- name: latest_snapshots
-- The newest snapshot of every target.
SELECT DISTINCT ON (target) data
FROM {schema}.health_snapshots
WHERE taken_at >= %(since)s
ORDER BY target, taken_at DESC

-- name: snapshots_between
-- One target's snapshots in a window, oldest first.
SELECT data
FROM {schema}.health_snapshots
WHERE target = %(target)s AND taken_at >= %(since)s AND taken_at <= %(until)s
ORDER BY taken_at

-- name: snapshot_summaries
-- One target's snapshots in a window, only what the charts need, oldest first.
SELECT taken_at, up,
       data -> 'results' -> 'database' -> 'rows' AS databases,
       data -> 'results' -> 'server' -> 'rows' -> 0 ->> 'datname' AS datname,
       data -> 'results' -> 'sessions' -> 'rows' -> 0 AS sessions,
       data -> 'results' -> 'lock_waits' -> 'rows' AS lock_waits,
       data -> 'results' -> 'tables' -> 'rows' AS tables
FROM {schema}.health_snapshots
WHERE target = %(target)s AND taken_at >= %(since)s AND taken_at <= %(until)s
ORDER BY taken_at

-- name: insert_statement
-- One pg_stat_statements sample row (cumulative values as read).
INSERT INTO {schema}.health_statements (target, taken_at, queryid, userid, dbid, toplevel,
    usename, datname, calls, total_exec_ms, rows, shared_blks_hit, shared_blks_read,
    block_read_ms, block_write_ms, stats_reset, query)
VALUES (%(target)s, %(taken_at)s, %(queryid)s, %(userid)s, %(dbid)s, %(toplevel)s,
    %(usename)s, %(datname)s, %(calls)s, %(total_exec_time)s, %(rows)s, %(shared_blks_hit)s,
    %(shared_blks_read)s, %(block_read_time)s, %(block_write_time)s, %(stats_reset)s, %(query)s)
ON CONFLICT DO NOTHING

-- name: statement_sample_times
-- The sample times of one target in a window, oldest first.
SELECT DISTINCT taken_at
FROM {schema}.health_statements
WHERE target = %(target)s AND taken_at >= %(since)s AND taken_at <= %(until)s
ORDER BY taken_at

-- name: statement_sample
-- Every row of one sample.
SELECT queryid, userid, dbid, toplevel, usename, datname, calls, total_exec_ms, rows,
       shared_blks_hit, shared_blks_read, block_read_ms, block_write_ms, stats_reset, query
FROM {schema}.health_statements
WHERE target = %(target)s AND taken_at = %(taken_at)s

-- name: snapshots_thinned
-- One target's snapshots in a window, at most one per stride (the newest of each), oldest first.
SELECT data
FROM (
    SELECT DISTINCT ON (date_bin(%(stride)s, taken_at, TIMESTAMPTZ '2000-01-01 00:00+00'))
           taken_at, data
    FROM {schema}.health_snapshots
    WHERE target = %(target)s AND taken_at >= %(since)s AND taken_at < %(until)s
    ORDER BY date_bin(%(stride)s, taken_at, TIMESTAMPTZ '2000-01-01 00:00+00'), taken_at DESC
) t
ORDER BY taken_at
