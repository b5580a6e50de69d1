-- name: start_run
-- A new run record, RUNNING (or already finished, for a skipped run).
INSERT INTO {schema}.ops_runs (op, target, dry_run, who, params, status, error, finished_at)
VALUES (%(op)s, %(target)s, %(dry_run)s, %(who)s, %(params)s, %(status)s, %(error)s,
        CASE WHEN %(status)s = 'RUNNING' THEN NULL ELSE now() END)
RETURNING id, started_at

-- name: fail_orphans
-- Runs of this op and target left RUNNING by a process that died (we now hold its lock).
UPDATE {schema}.ops_runs
SET status = 'FAILED', finished_at = now(),
    error = 'interrupted: the process running it stopped before it finished'
WHERE op = %(op)s AND target = %(target)s AND status = 'RUNNING'
RETURNING id

-- name: run_progress
-- Progress of a running operation (what a resumed run continues from).
UPDATE {schema}.ops_runs SET progress = %(progress)s WHERE id = %(id)s

-- name: finish_run
-- The end of a run: status, result, error.
UPDATE {schema}.ops_runs
SET status = %(status)s, finished_at = now(), result = %(result)s, error = %(error)s
WHERE id = %(id)s
RETURNING id, op, target, status, dry_run, started_at, finished_at, params, progress, result, error

-- name: get_run
-- One run record.
SELECT id, op, target, status, dry_run, started_at, finished_at, params, progress, result, error
FROM {schema}.ops_runs WHERE id = %(id)s

-- name: list_runs
-- Recent run records, newest first, optionally of one operation.
SELECT id, op, target, status, dry_run, started_at, finished_at, params, progress, result, error
FROM {schema}.ops_runs
WHERE (%(op)s::text IS NULL OR op = %(op)s)
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s

-- name: last_run
-- The newest run of an operation with one of the given statuses (not dry runs).
SELECT id, op, target, status, dry_run, started_at, finished_at, params, progress, result, error
FROM {schema}.ops_runs
WHERE op = %(op)s AND status = ANY(%(statuses)s) AND NOT dry_run
ORDER BY started_at DESC, id DESC
LIMIT 1

-- name: failed_since
-- Failed runs since a time.
SELECT op, target, started_at, error FROM {schema}.ops_runs
WHERE status = 'FAILED' AND started_at >= %(since)s ORDER BY started_at DESC

-- name: try_lock
-- One operation on one target at a time: a second caller gets false and skips.
SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0))

-- name: unlock
-- Release the operation's lock.
SELECT pg_advisory_unlock(hashtextextended(%(key)s, 0))

-- name: server_info
-- The server's version and the database this target is.
SELECT current_setting('server_version_num')::int, current_setting('server_version'),
       current_database()

-- name: user_tables
-- Every ordinary table outside the system schemas: what a full dump holds rows of.
SELECT c.oid::bigint, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
ORDER BY pg_relation_size(c.oid) DESC

-- name: tables_by_oid
-- Names of tables given their oids.
SELECT c.oid::bigint, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY(%(oids)s::oid[])

-- name: object_counts
-- Objects of a restored database, counted the way a dump's TOC lists them.
SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%%') AS tables,
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%%') AS sequences,
  (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                      AND k.contype IN ('p', 'u', 'x'))) AS indexes,
  (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
    WHERE k.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_%%' AND k.conparentid = 0) AS fk_constraints,
  (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname NOT LIKE 'pg\_%%') AS invalid_indexes

-- name: database_exists
-- Whether a database of this name exists.
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s)

-- name: scratch_databases
-- Databases left by verifications of one target (a killed run's scratch).
SELECT datname FROM pg_database WHERE datname LIKE %(prefix)s ORDER BY datname

-- name: insert_backup
-- A backup being taken.
INSERT INTO {schema}.ops_backups (run_id, target, format, path, scope, server_version,
                                  client_version)
VALUES (%(run_id)s, %(target)s, %(format)s, %(path)s, %(scope)s, %(server_version)s,
        %(client_version)s)
RETURNING id, started_at

-- name: complete_backup
-- A backup whose manifest is written and whose checksum was re-read.
UPDATE {schema}.ops_backups
SET status = 'COMPLETE', finished_at = now(), path = %(path)s, manifest_path = %(manifest_path)s,
    bytes = %(bytes)s, sha256 = %(sha256)s, toc_entries = %(toc_entries)s, manifest = %(manifest)s
WHERE id = %(id)s

-- name: fail_backup
-- A backup that failed; its files are gone.
UPDATE {schema}.ops_backups SET status = 'FAILED', finished_at = now(), delete_reason = %(error)s
WHERE id = %(id)s

-- name: record_verify
-- The outcome of a restore test of one backup.
UPDATE {schema}.ops_backups
SET verified_at = now(), verify_ok = %(ok)s, verify_seconds = %(seconds)s, verify_error = %(error)s
WHERE id = %(id)s

-- name: mark_deleted
-- A pruned backup: its files were removed.
UPDATE {schema}.ops_backups SET status = 'DELETED', deleted_at = now(), delete_reason = %(reason)s
WHERE id = %(id)s

-- name: list_backups
-- Backups of every target, newest first.
SELECT id, target, started_at, finished_at, status, format, path, manifest_path, bytes, sha256,
       toc_entries, server_version, client_version, scope, manifest, verified_at, verify_ok,
       verify_seconds, verify_error, deleted_at, delete_reason
FROM {schema}.ops_backups
WHERE (%(target)s::text IS NULL OR target = %(target)s)
  AND (%(all)s OR status <> 'DELETED')
ORDER BY started_at DESC, id DESC

-- name: table_column
-- A table's kind and a column's type, nullability and declared length, or no row.
SELECT c.relkind::text, format_type(a.atttypid, NULL), a.attnotnull, a.atttypmod, c.oid::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %(column)s AND a.attnum > 0
     AND NOT a.attisdropped
WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s

-- name: parse_interval
-- A span of time as PostgreSQL reads it, in seconds.
SELECT %(text)s::interval::text, extract(epoch FROM %(text)s::interval)::float8

-- name: upsert_policy
-- A retention or masking policy, replacing one on the same table and column.
INSERT INTO {schema}.ops_policies (kind, table_schema, table_name, column_name, older_than,
                                   expires, age_column, method, source, created_by)
VALUES (%(kind)s, %(table_schema)s, %(table_name)s, %(column_name)s, %(older_than)s::interval,
        %(expires)s, %(age_column)s, %(method)s, %(source)s, %(who)s)
ON CONFLICT (kind, table_schema, table_name, column_name) DO UPDATE
SET older_than = EXCLUDED.older_than, expires = EXCLUDED.expires,
    age_column = EXCLUDED.age_column, method = EXCLUDED.method, source = EXCLUDED.source,
    enabled = true, state = NULL
RETURNING id

-- name: list_policies
-- Lifecycle policies of one kind (or all).
SELECT id, kind, table_schema, table_name, column_name, older_than::text, expires, age_column,
       method, enabled, source, created_at, state, last_run_id
FROM {schema}.ops_policies
WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)
ORDER BY kind, table_schema, table_name, column_name

-- name: delete_policy
-- Remove a policy by id.
DELETE FROM {schema}.ops_policies WHERE id = %(id)s AND kind = %(kind)s RETURNING id

-- name: save_policy_state
-- The progress of an unfinished policy run (committed with the batch it describes).
UPDATE {schema}.ops_policies SET state = %(state)s, last_run_id = %(run_id)s WHERE id = %(id)s

-- name: relation_pages
-- Pages of a table now, and its rows per page by the planner's statistics.
SELECT (pg_relation_size(%(oid)s::oid) / current_setting('block_size')::int)::bigint,
       CASE WHEN relpages > 0 THEN reltuples / relpages ELSE 0 END
FROM pg_class WHERE oid = %(oid)s::oid

-- name: cutoff
-- A fixed cutoff: now minus a span.
SELECT now() - %(span)s::interval, now()

-- name: analyze_candidates
-- Partitioned parents (autovacuum never analyzes them) and tables whose statistics are stale.
SELECT n.nspname, c.relname, c.relkind::text, r.reason
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN c.relkind = 'p' THEN 'partitioned parent: autovacuum never analyzes it'
        WHEN greatest(s.last_analyze, s.last_autoanalyze) IS NULL THEN 'never analyzed'
        WHEN greatest(s.last_analyze, s.last_autoanalyze) < now() - %(max_age)s::interval
          THEN 'last analyzed more than ' || %(max_age)s || ' ago'
        WHEN s.n_mod_since_analyze > %(mod_fraction)s * greatest(c.reltuples, 1) + 50
          THEN s.n_mod_since_analyze || ' rows changed since the last analyze'
    END AS reason
) r
WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND r.reason IS NOT NULL
ORDER BY (c.relkind = 'p') DESC, 1, 2

-- name: invalid_indexes
-- Indexes left INVALID (a failed CREATE/REINDEX CONCURRENTLY) outside the system schemas.
SELECT n.nspname, ic.relname, t.relname,
       pg_relation_size(ic.oid)::bigint
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'
ORDER BY 1, 2

-- name: index_bloat
-- Btree indexes with their size and an estimated bloat (ideal size from row count and widths).
SELECT n.nspname, ic.relname, t.relname, pg_relation_size(ic.oid)::bigint AS bytes,
       ic.reltuples::bigint,
       (ic.reltuples * (12 + coalesce(w.width, 8)) / (current_setting('block_size')::int * 0.9)
        * current_setting('block_size')::int)::bigint AS ideal,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ic.oid AND k.contype = 'x')
         AS exclusion
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
LEFT JOIN LATERAL (
    SELECT sum(coalesce(s.avg_width, 8)) AS width
    FROM unnest(i.indkey) AS k(attnum)
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                        AND s.attname = a.attname
) w ON true
WHERE i.indisvalid AND ic.relkind = 'i'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND pg_relation_size(ic.oid) >= %(min_bytes)s
ORDER BY bytes DESC

-- name: reloptions
-- A table's storage options and, for a partitioned one, its leaves.
SELECT n.nspname, c.relname, c.relkind::text, coalesce(c.reloptions, '{{}}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = %(oid)s::oid
   OR c.oid IN (SELECT relid FROM pg_partition_tree(%(oid)s::oid) WHERE isleaf)
ORDER BY c.relkind DESC, 1, 2

-- name: current_sizes
-- The database, every top-level table (a partitioned one summed over its tree), every partition.
SELECT 'database' AS kind, current_database() AS object,
       pg_database_size(current_database())::bigint AS bytes, NULL::bigint AS est_rows
UNION ALL
SELECT CASE WHEN c.relispartition THEN 'partition' ELSE 'table' END,
       n.nspname || '.' || c.relname,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
                  FROM pg_partition_tree(c.oid))::bigint
            ELSE pg_total_relation_size(c.oid)::bigint END,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(greatest(k.reltuples, 0)), 0)
                  FROM pg_partition_tree(c.oid) t JOIN pg_class k ON k.oid = t.relid)::bigint
            ELSE greatest(c.reltuples, 0)::bigint END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%%'

-- name: record_size
-- Today's size of one object (the last sample of the day wins).
INSERT INTO {schema}.ops_size_history (day, object, kind, bytes, est_rows)
VALUES (%(day)s, %(object)s, %(kind)s, %(bytes)s, %(est_rows)s)
ON CONFLICT (day, kind, object) DO UPDATE SET bytes = EXCLUDED.bytes, est_rows = EXCLUDED.est_rows

-- name: size_history
-- Daily sizes of objects of one kind since a day.
SELECT object, day, bytes FROM {schema}.ops_size_history
WHERE kind = %(kind)s AND day >= %(since)s ORDER BY object, day

-- name: data_directory
-- Where the server keeps its data (readable by superusers and pg_read_all_settings).
SELECT current_setting('data_directory', true)

-- name: long_transactions
-- Open transactions older than an hour, and sessions idle in a transaction over ten minutes.
SELECT count(*) FILTER (WHERE xact_start < now() - interval '1 hour'),
       count(*) FILTER (WHERE state LIKE 'idle in transaction%%'
                          AND state_change < now() - interval '10 minutes'),
       max(now() - xact_start)::text
FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()

-- name: archiver
-- WAL archiving: mode, and pg_stat_archiver's counters and times.
SELECT current_setting('archive_mode'), archived_count, failed_count, last_archived_time,
       last_failed_time, last_failed_wal
FROM pg_stat_archiver

-- name: wraparound
-- The oldest unfrozen transaction age as a share of the 2^31 limit.
SELECT max(age(datfrozenxid))::float8 / 2147483648 FROM pg_database

-- name: dead_tuples
-- Tables where dead rows are a fifth of the live ones or more (over 10,000 dead).
SELECT schemaname || '.' || relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables
WHERE n_dead_tup > 10000 AND n_dead_tup > 0.2 * greatest(n_live_tup, 1)
ORDER BY n_dead_tup DESC LIMIT 10

-- name: index_builds
-- CREATE INDEX / REINDEX in progress.
SELECT count(*) FROM pg_stat_progress_create_index

-- name: owned_sequences
-- Sequences owned by a column (serial, identity), with the table and column.
SELECT sn.nspname, sc.relname, tn.nspname, tc.relname, a.attname
FROM pg_depend d
JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
JOIN pg_class tc ON tc.oid = d.refobjid AND tc.relkind IN ('r', 'p')
JOIN pg_namespace tn ON tn.oid = tc.relnamespace
JOIN pg_attribute a ON a.attrelid = tc.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND format_type(a.atttypid, NULL) IN ('bigint', 'integer', 'smallint')
