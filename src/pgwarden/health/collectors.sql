-- The collector catalogue: one named block per collector and server version.
-- A block named `<collector>__<major>` serves that major and every later one
-- until a block with a higher major exists (bgwriter__15 serves 15 and 16,
-- bgwriter__17 serves 17 and 18). Every query reads statistics views and
-- catalogs only; none writes. Columns are what the pure core expects.

-- name: server__15
-- Version, start time, recovery state and replay lag of the server.
SELECT current_setting('server_version_num')::int AS version_num,
       version() AS version,
       current_setting('server_version') AS short_version,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time,
       pg_is_in_recovery() AS is_replica,
       current_database() AS datname,
       current_user AS usename,
       extract(epoch FROM now())::float8 AS now,
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
       END::float8 AS lag_seconds,
       coalesce(extract(epoch FROM pg_last_xact_replay_timestamp()), 0)::float8 AS last_replay

-- name: database__15
-- pg_stat_database per database with its conflicts and connection limit.
SELECT d.datid::bigint AS datid, d.datname, d.numbackends, d.xact_commit, d.xact_rollback,
       d.blks_read, d.blks_hit, d.tup_returned, d.tup_fetched, d.tup_inserted, d.tup_updated,
       d.tup_deleted, d.conflicts, d.temp_files, d.temp_bytes, d.deadlocks,
       d.blk_read_time, d.blk_write_time, d.active_time,
       coalesce(extract(epoch FROM d.stats_reset), 0)::float8 AS stats_reset,
       db.datconnlimit AS connection_limit,
       coalesce(c.confl_tablespace, 0) AS confl_tablespace,
       coalesce(c.confl_lock, 0) AS confl_lock,
       coalesce(c.confl_snapshot, 0) AS confl_snapshot,
       coalesce(c.confl_bufferpin, 0) AS confl_bufferpin,
       coalesce(c.confl_deadlock, 0) AS confl_deadlock
FROM pg_stat_database d
JOIN pg_database db ON db.oid = d.datid
LEFT JOIN pg_stat_database_conflicts c ON c.datid = d.datid
WHERE d.datname IS NOT NULL

-- name: activity__15
-- Sessions by database and state, zeros included, with the oldest transaction per pair.
WITH states(state) AS (
    VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'),
           ('fastpath function call'), ('disabled')
), seen AS (
    SELECT datname, state, count(*) AS n,
           max(extract(epoch FROM now() - xact_start)) AS max_tx
    FROM pg_stat_activity
    WHERE datname IS NOT NULL AND state IS NOT NULL
    GROUP BY datname, state
)
SELECT d.datname, s.state, coalesce(seen.n, 0) AS count,
       coalesce(seen.max_tx, 0)::float8 AS max_tx_duration
FROM pg_database d
CROSS JOIN states s
LEFT JOIN seen ON seen.datname = d.datname AND seen.state = s.state

-- name: sessions__15
-- One row: idle-in-transaction age, longest transactions, sessions waiting on locks.
SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS client_backends,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
       coalesce(max(extract(epoch FROM now() - state_change))
                FILTER (WHERE state LIKE 'idle in transaction%'), 0)::float8
           AS idle_in_transaction_max_seconds,
       coalesce(max(extract(epoch FROM now() - xact_start))
                FILTER (WHERE state = 'active' AND backend_type = 'client backend'), 0)::float8
           AS longest_active_transaction_seconds,
       coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8
           AS longest_transaction_seconds,
       coalesce(max(extract(epoch FROM now() - query_start))
                FILTER (WHERE state = 'active' AND backend_type = 'client backend'), 0)::float8
           AS longest_query_seconds,
       count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_locks
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()

-- name: wait_events__15
-- Active sessions by wait event type (none when running on CPU).
SELECT coalesce(wait_event_type, 'CPU') AS wait_event_type, count(*) AS count
FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid()
GROUP BY 1

-- name: locks__15
-- Locks by database and mode (the nine modes, zeros included), granted and waiting.
WITH modes(mode) AS (
    VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'),
           ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'),
           ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')
), held AS (
    SELECT database, lower(mode) AS mode, count(*) AS n, count(*) FILTER (WHERE NOT granted) AS w
    FROM pg_locks
    WHERE database IS NOT NULL
    GROUP BY 1, 2
)
SELECT d.datname, m.mode, coalesce(h.n, 0) AS count, coalesce(h.w, 0) AS waiting
FROM pg_database d
CROSS JOIN modes m
LEFT JOIN held h ON h.database = d.oid AND h.mode = m.mode

-- name: lock_waits__15
-- Every session waiting on a lock and every session blocking one (the wait graph).
WITH waiting AS (
    SELECT a.pid, pg_blocking_pids(a.pid) AS blockers
    FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock'
), involved AS (
    SELECT pid FROM waiting WHERE cardinality(blockers) > 0
    UNION
    SELECT unnest(blockers) FROM waiting
)
SELECT a.pid, coalesce(w.blockers, '{}'::int[]) AS blockers, a.datname, a.usename::text,
       a.application_name, a.state,
       coalesce(extract(epoch FROM now() - coalesce(l.waitstart, a.state_change)), 0)::float8
           AS wait_seconds,
       coalesce(extract(epoch FROM now() - a.xact_start), 0)::float8 AS xact_seconds,
       l.locktype, l.mode,
       CASE WHEN l.relation IS NOT NULL
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN l.relation::regclass::text
            WHEN l.relation IS NOT NULL THEN 'oid ' || l.relation::text
       END AS relation,
       left(a.query, 200) AS query
FROM involved i
JOIN pg_stat_activity a ON a.pid = i.pid
LEFT JOIN waiting w ON w.pid = a.pid
LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted

-- name: settings__15
-- Numeric and boolean settings with their units (converted by the core).
SELECT name, setting, coalesce(unit, '') AS unit, vartype
FROM pg_settings
WHERE vartype IN ('bool', 'integer', 'real')

-- name: bgwriter__15
-- Checkpoints and background writer (before PostgreSQL 17 split them).
SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, checkpoint_sync_time,
       buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend,
       buffers_backend_fsync, buffers_alloc,
       coalesce(extract(epoch FROM stats_reset), 0)::float8 AS stats_reset
FROM pg_stat_bgwriter

-- name: bgwriter__17
-- Checkpoints from pg_stat_checkpointer, backend writes from pg_stat_io (PostgreSQL 17+).
SELECT c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_req,
       c.write_time AS checkpoint_write_time, c.sync_time AS checkpoint_sync_time,
       c.buffers_written AS buffers_checkpoint, b.buffers_clean, b.maxwritten_clean,
       (SELECT coalesce(sum(writes), 0) FROM pg_stat_io WHERE backend_type = 'client backend')
           AS buffers_backend,
       (SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE backend_type = 'client backend')
           AS buffers_backend_fsync,
       b.buffers_alloc,
       coalesce(extract(epoch FROM b.stats_reset), 0)::float8 AS stats_reset,
       c.restartpoints_timed, c.restartpoints_req, c.restartpoints_done,
       coalesce(extract(epoch FROM c.stats_reset), 0)::float8 AS checkpointer_stats_reset
FROM pg_stat_bgwriter b
CROSS JOIN pg_stat_checkpointer c

-- name: archiver__15
-- WAL archiving counts and the age of the last archived segment.
SELECT archived_count, failed_count,
       coalesce(extract(epoch FROM now() - last_archived_time), 0)::float8 AS last_archive_age,
       coalesce(extract(epoch FROM last_failed_time), 0)::float8 AS last_failed_time
FROM pg_stat_archiver

-- name: replication__15
-- Standbys streaming from this server and their lag.
SELECT application_name, coalesce(client_addr::text, '') AS client_addr, state,
       CASE WHEN pg_is_in_recovery() THEN 0
            ELSE coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) END::float8
           AS replay_lag_bytes,
       coalesce(extract(epoch FROM replay_lag), 0)::float8 AS replay_lag_seconds
FROM pg_stat_replication

-- name: slots__15
-- Replication slots and the WAL each one holds back.
SELECT slot_name, slot_type, coalesce(database, '') AS database, active,
       coalesce(wal_status, '') AS wal_status,
       CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN 0
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END::float8
           AS retained_bytes,
       coalesce(safe_wal_size, 0)::float8 AS safe_wal_size
FROM pg_replication_slots

-- name: wal__15
-- WAL segments on disk (pg_ls_waldir needs pg_monitor).
SELECT count(*) AS segments, coalesce(sum(size), 0)::float8 AS size_bytes
FROM pg_ls_waldir()

-- name: wraparound__15
-- Transaction ID and MultiXact ages per database.
SELECT datname, age(datfrozenxid)::float8 AS xid_age, mxid_age(datminmxid)::float8 AS mxid_age
FROM pg_database
WHERE datallowconn

-- name: tables__15
-- Table statistics and block I/O of the current database, with each partition's root.
SELECT s.relid::bigint AS relid, s.schemaname::text, s.relname::text, c.relkind::text AS relkind,
       c.relispartition AS is_partition,
       rn.nspname::text AS root_schema, r.relname::text AS root_name,
       s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0) AS idx_scan,
       coalesce(s.idx_tup_fetch, 0) AS idx_tup_fetch, s.n_tup_ins, s.n_tup_upd, s.n_tup_del,
       s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.n_ins_since_vacuum,
       coalesce(extract(epoch FROM s.last_vacuum), 0)::float8 AS last_vacuum,
       coalesce(extract(epoch FROM s.last_autovacuum), 0)::float8 AS last_autovacuum,
       coalesce(extract(epoch FROM s.last_analyze), 0)::float8 AS last_analyze,
       coalesce(extract(epoch FROM s.last_autoanalyze), 0)::float8 AS last_autoanalyze,
       s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
       coalesce(io.heap_blks_read, 0) AS heap_blks_read,
       coalesce(io.heap_blks_hit, 0) AS heap_blks_hit,
       coalesce(io.idx_blks_read, 0) AS idx_blks_read,
       coalesce(io.idx_blks_hit, 0) AS idx_blks_hit,
       coalesce(io.toast_blks_read, 0) AS toast_blks_read,
       coalesce(io.toast_blks_hit, 0) AS toast_blks_hit,
       coalesce(io.tidx_blks_read, 0) AS tidx_blks_read,
       coalesce(io.tidx_blks_hit, 0) AS tidx_blks_hit,
       c.relpages::float8 * current_setting('block_size')::int AS est_bytes,
       coalesce('autovacuum_enabled=false' = ANY (c.reloptions), false) AS autovacuum_disabled
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
LEFT JOIN pg_statio_user_tables io ON io.relid = s.relid
LEFT JOIN pg_class r ON c.relispartition AND r.oid = pg_partition_root(c.oid)
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace

-- name: indexes__15
-- Index use, block I/O and the safety facts of every user index (no size functions).
SELECT s.indexrelid::bigint AS indexrelid, s.relid::bigint AS relid, s.schemaname::text,
       s.relname::text, s.indexrelname::text, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       coalesce(io.idx_blks_read, 0) AS idx_blks_read, coalesce(io.idx_blks_hit, 0) AS idx_blks_hit,
       i.indisprimary AS is_primary, i.indisunique AS is_unique, i.indisvalid AS is_valid,
       i.indisready AS is_ready, i.indisreplident AS is_replica_identity,
       k.conindid IS NOT NULL AS backs_constraint,
       i.indrelid::bigint::text || ':' || i.indkey::text || ':' || i.indclass::text || ':'
           || coalesce(pg_get_expr(i.indexprs, i.indrelid), '') || ':'
           || coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS signature,
       ic.relpages::float8 * current_setting('block_size')::int AS est_bytes,
       tc.relpages::float8 * current_setting('block_size')::int AS table_est_bytes,
       0::float8 AS last_idx_scan
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class ic ON ic.oid = s.indexrelid
JOIN pg_class tc ON tc.oid = s.relid
LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
-- pg_constraint has no index on conindid: one pass, not one scan per index
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0) k
       ON k.conindid = s.indexrelid

-- name: indexes__16
-- Index use with last_idx_scan (PostgreSQL 16+).
SELECT s.indexrelid::bigint AS indexrelid, s.relid::bigint AS relid, s.schemaname::text,
       s.relname::text, s.indexrelname::text, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       coalesce(io.idx_blks_read, 0) AS idx_blks_read, coalesce(io.idx_blks_hit, 0) AS idx_blks_hit,
       i.indisprimary AS is_primary, i.indisunique AS is_unique, i.indisvalid AS is_valid,
       i.indisready AS is_ready, i.indisreplident AS is_replica_identity,
       k.conindid IS NOT NULL AS backs_constraint,
       i.indrelid::bigint::text || ':' || i.indkey::text || ':' || i.indclass::text || ':'
           || coalesce(pg_get_expr(i.indexprs, i.indrelid), '') || ':'
           || coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS signature,
       ic.relpages::float8 * current_setting('block_size')::int AS est_bytes,
       tc.relpages::float8 * current_setting('block_size')::int AS table_est_bytes,
       coalesce(extract(epoch FROM s.last_idx_scan), 0)::float8 AS last_idx_scan
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class ic ON ic.oid = s.indexrelid
JOIN pg_class tc ON tc.oid = s.relid
LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
-- pg_constraint has no index on conindid: one pass, not one scan per index
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0) k
       ON k.conindid = s.indexrelid

-- name: sizes__15
-- Exact sizes of user tables and indexes, skipping any relation with an ACCESS EXCLUSIVE
-- lock held or requested (a size function would queue behind it).
WITH locked AS (
    SELECT l.relation AS oid
    FROM pg_locks l
    WHERE l.mode = 'AccessExclusiveLock' AND l.relation IS NOT NULL
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), rels AS (
    SELECT c.oid, c.relkind, coalesce(ix.indrelid, c.oid) AS owner
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index ix ON ix.indexrelid = c.oid
    WHERE c.relkind IN ('r', 'm', 'i')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp)'
)
SELECT r.oid::bigint AS relid, r.relkind::text,
       pg_relation_size(r.oid)::float8 AS relation_bytes,
       CASE WHEN r.relkind IN ('r', 'm') THEN pg_table_size(r.oid) END::float8 AS table_bytes,
       CASE WHEN r.relkind IN ('r', 'm') THEN pg_indexes_size(r.oid) END::float8 AS indexes_bytes
FROM rels r
WHERE r.oid NOT IN (SELECT oid FROM locked) AND r.owner NOT IN (SELECT oid FROM locked)

-- name: database_sizes__15
-- Size of every database that accepts connections.
SELECT datname, pg_database_size(oid)::float8 AS size_bytes
FROM pg_database
WHERE datallowconn AND has_database_privilege(oid, 'CONNECT')

-- name: statements__15
-- The most expensive pg_stat_statements entries (cumulative, diffed by the core).
SELECT s.queryid, s.userid::bigint AS userid, s.dbid::bigint AS dbid,
       coalesce(r.rolname::text, s.userid::text) AS usename,
       coalesce(d.datname::text, s.dbid::text) AS datname, s.toplevel,
       s.calls, s.total_exec_time, s.rows, s.shared_blks_hit, s.shared_blks_read,
       s.blk_read_time AS block_read_time, s.blk_write_time AS block_write_time,
       s.total_plan_time, left(s.query, 300) AS query,
       coalesce((SELECT extract(epoch FROM stats_reset) FROM pg_stat_statements_info), 0)::float8
           AS stats_reset
FROM pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL
ORDER BY s.total_exec_time DESC
LIMIT 500

-- name: statements__17
-- The same with PostgreSQL 17's renamed block timing columns.
SELECT s.queryid, s.userid::bigint AS userid, s.dbid::bigint AS dbid,
       coalesce(r.rolname::text, s.userid::text) AS usename,
       coalesce(d.datname::text, s.dbid::text) AS datname, s.toplevel,
       s.calls, s.total_exec_time, s.rows, s.shared_blks_hit, s.shared_blks_read,
       s.shared_blk_read_time AS block_read_time, s.shared_blk_write_time AS block_write_time,
       s.total_plan_time, left(s.query, 300) AS query,
       coalesce((SELECT extract(epoch FROM stats_reset) FROM pg_stat_statements_info), 0)::float8
           AS stats_reset
FROM pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL
ORDER BY s.total_exec_time DESC
LIMIT 500

-- name: probe__15
-- What the edge needs before choosing collectors: version and installed extensions.
SELECT current_setting('server_version_num')::int AS version_num,
       coalesce((SELECT array_agg(extname::text) FROM pg_extension), '{}') AS extensions
