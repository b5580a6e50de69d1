-- name: catalog
-- Every wanted parent with its key column and its children's names and bounds, one row each.
-- Wanted: the (schemas, names) given, or with schemas NULL every stored policy's parent
-- (a run sends this with the policies and the lock, one round trip). Each parent's children
-- are aggregated into arrays (same order in each; the caller orders them by name), which
-- keeps the join per parent: pg_inherits and pg_class are read through their indexes for
-- the managed parents only, never hashed whole (every relation of the database, indexes
-- included). pg_get_expr without a relation (0): a bound holds constants only, and naming
-- the child would open every partition (a relcache build per child on a fresh connection).
-- The parent and its key's column are looked up per wanted parent too (LATERAL ... OFFSET 0
-- keeps each a parameterized index scan): as plain joins the planner, expecting 200
-- policies, hashed all of pg_class and pg_attribute instead (a seq scan of every relation's
-- row and every column's, 1-3 ms of a steady run's server time). The parents are found
-- first (`found`) so that pg_partitioned_table, small, is hashed once rather than scanned
-- again for every parent inside the lookup.
-- Quiet parents: with `now` given (a run; NULL elsewhere), a parent whose stamp in
-- partition_quiet still holds (the same parent oid, policy row version and pg_inherits
-- rows, `now` within its quiet span) is returned with `quiet` true and no children: its
-- bounds are neither deparsed nor sent. `children` and `children_hash` identify the
-- pg_inherits rows of a parent read in full (any attach, detach, drop or detach-pending
-- change makes new ones), for the stamp a run writes; a stamp holds at least one child, so
-- a parent without a live stamp (its identity not computed: 0 children) is never quiet.
-- `policy_version` is the policy row's xmin (with schemas NULL).
WITH wanted AS MATERIALIZED (
    SELECT w.schema_name, w.table_name, NULL::text AS policy_version
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS w(schema_name, table_name)
    UNION ALL
    SELECT p.parent_schema, p.parent_name, p.xmin::text
    FROM {schema}.partition_policies p
    WHERE %(schemas)s::text[] IS NULL
), found AS MATERIALIZED (
    SELECT w.schema_name, w.table_name, w.policy_version, parent.oid
    FROM wanted w
    LEFT JOIN LATERAL (
        SELECT c.oid
        FROM pg_class c
        JOIN pg_namespace pn ON pn.oid = c.relnamespace
        WHERE pn.nspname = w.schema_name AND c.relname = w.table_name
          AND c.relkind IN ('r', 'p')
        OFFSET 0
    ) parent ON true
), parents AS MATERIALIZED (
    SELECT f.schema_name,
           f.table_name,
           f.oid AS parent_oid,
           f.policy_version,
           pt.partstrat::text AS strategy,
           pt.partnatts AS key_count,
           ka.attname AS key_column,
           format_type(ka.atttypid, NULL) AS key_type,
           (h.children = s.children AND h.children_hash = s.children_hash) IS TRUE AS quiet
    FROM found f
    LEFT JOIN pg_partitioned_table pt ON pt.partrelid = f.oid
    LEFT JOIN LATERAL (
        SELECT a.attname, a.atttypid
        FROM pg_attribute a
        WHERE a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
        OFFSET 0
    ) ka ON true
    LEFT JOIN {schema}.partition_quiet s
        ON s.parent_schema = f.schema_name AND s.parent_name = f.table_name
    -- the children's identity, for a parent whose stamp holds so far (the others' comes
    -- with their children below, from the same scan)
    LEFT JOIN LATERAL (
        SELECT count(*)::integer AS children,
               coalesce(bit_xor(hashtextextended(
                   i.inhrelid::text || ' ' || i.xmin::text || ' ' || i.inhdetachpending::text, 0
               )), 0) AS children_hash
        FROM pg_inherits i
        WHERE i.inhparent = f.oid
          AND (s.parent_oid = f.oid AND s.policy_version = f.policy_version
               AND %(now)s::timestamptz >= s.quiet_from
               AND %(now)s::timestamptz < s.quiet_until) IS TRUE
    ) h ON true
)
SELECT p.schema_name,
       p.table_name,
       p.parent_oid IS NOT NULL AS present,
       p.strategy,
       p.key_count,
       p.key_column,
       p.key_type,
       k.child_schemas,
       k.child_names,
       k.child_kinds,
       k.child_bounds,
       k.detach_pending,
       p.quiet,
       p.parent_oid,
       p.policy_version,
       k.children,
       k.children_hash
FROM parents p
LEFT JOIN LATERAL (
    SELECT array_agg(cn.nspname::text) AS child_schemas,
           array_agg(c.relname::text) AS child_names,
           array_agg(c.relkind::text) AS child_kinds,
           array_agg(pg_get_expr(c.relpartbound, 0)) AS child_bounds,
           array_agg(i.inhdetachpending) AS detach_pending,
           count(*)::integer AS children,
           coalesce(bit_xor(hashtextextended(
               i.inhrelid::text || ' ' || i.xmin::text || ' ' || i.inhdetachpending::text, 0
           )), 0) AS children_hash
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_namespace cn ON cn.oid = c.relnamespace
    WHERE i.inhparent = p.parent_oid AND NOT p.quiet
) k ON true

-- name: list_policies
-- Every stored policy, in maintenance order; last, the row's version (its xmin: any change
-- of the row makes a new one), which a run's stamps of quiet parents record.
SELECT parent_schema, parent_name, interval_unit, interval_count, premake, retention_months,
       retention_days, retention_action, archive_dir, keep_at_least, max_drops_per_run, naming,
       timezone, default_mode, enabled, priority, xmin::text
FROM {schema}.partition_policies
ORDER BY priority, parent_schema, parent_name

-- name: get_policy_for_update
-- One policy, locked for a change.
SELECT parent_schema, parent_name, interval_unit, interval_count, premake, retention_months,
       retention_days, retention_action, archive_dir, keep_at_least, max_drops_per_run, naming,
       timezone, default_mode, enabled, priority
FROM {schema}.partition_policies
WHERE parent_schema = %(schema_name)s AND parent_name = %(table_name)s
FOR UPDATE

-- name: upsert_policy
-- Insert or replace one policy.
INSERT INTO {schema}.partition_policies AS p (
    parent_schema, parent_name, interval_unit, interval_count, premake, retention,
    retention_months, retention_days, retention_action, archive_dir, keep_at_least,
    max_drops_per_run, naming, timezone, default_mode, enabled, priority, updated_by)
VALUES (%(parent_schema)s, %(parent_name)s, %(interval_unit)s, %(interval_count)s, %(premake)s,
        %(retention)s, %(retention_months)s, %(retention_days)s, %(retention_action)s,
        %(archive_dir)s, %(keep_at_least)s, %(max_drops_per_run)s, %(naming)s, %(timezone)s,
        %(default_mode)s, %(enabled)s, %(priority)s, %(who)s)
ON CONFLICT (parent_schema, parent_name) DO UPDATE SET
    interval_unit = EXCLUDED.interval_unit, interval_count = EXCLUDED.interval_count,
    premake = EXCLUDED.premake, retention = EXCLUDED.retention,
    retention_months = EXCLUDED.retention_months, retention_days = EXCLUDED.retention_days,
    retention_action = EXCLUDED.retention_action, archive_dir = EXCLUDED.archive_dir,
    keep_at_least = EXCLUDED.keep_at_least, max_drops_per_run = EXCLUDED.max_drops_per_run,
    naming = EXCLUDED.naming, timezone = EXCLUDED.timezone,
    default_mode = EXCLUDED.default_mode, enabled = EXCLUDED.enabled,
    priority = EXCLUDED.priority, updated_at = now(), updated_by = EXCLUDED.updated_by

-- name: delete_policy
-- Forget one policy.
DELETE FROM {schema}.partition_policies
WHERE parent_schema = %(schema_name)s AND parent_name = %(table_name)s

-- name: audit
-- Record a change of a policy.
INSERT INTO {schema}.partition_policy_audit
    (parent_schema, parent_name, change, old_value, new_value, changed_by)
VALUES (%(schema_name)s, %(table_name)s, %(change)s, %(old)s, %(new)s, %(who)s)

-- name: audit_history
-- The latest changes, newest first.
SELECT parent_schema, parent_name, change, old_value, new_value, changed_by, changed_at
FROM {schema}.partition_policy_audit
WHERE (%(schema_name)s::text IS NULL OR parent_schema = %(schema_name)s)
  AND (%(table_name)s::text IS NULL OR parent_name = %(table_name)s)
ORDER BY changed_at DESC, id DESC
LIMIT %(limit)s

-- name: start_run
-- A run begins.
INSERT INTO {schema}.partition_runs (kind, dry_run, run_by, status)
VALUES (%(kind)s, %(dry_run)s, %(who)s, %(status)s)
RETURNING id, started_at

-- name: finish_run
-- A run ends with its actions and errors.
UPDATE {schema}.partition_runs
SET finished_at = clock_timestamp(), status = %(status)s, actions = %(actions)s,
    errors = %(errors)s, message = %(message)s
WHERE id = %(id)s

-- name: record_tables
-- Tables' outcomes within a run, one row per element of the arrays (one statement for all).
INSERT INTO {schema}.partition_run_tables
    (run_id, parent_schema, parent_name, status, started_at, duration_ms, actions, error)
SELECT %(run_id)s, t.*
FROM unnest(%(schema_names)s::text[], %(table_names)s::text[], %(statuses)s::text[],
            %(started)s::timestamptz[], %(durations)s::float8[], %(actions)s::int[],
            %(errors)s::text[]) AS t

-- name: last_runs
-- Per managed table: the last run, the last success and its duration.
SELECT DISTINCT ON (t.parent_schema, t.parent_name)
       t.parent_schema, t.parent_name, t.started_at, t.status, t.duration_ms, t.error,
       (SELECT max(s.started_at) FROM {schema}.partition_run_tables s
         WHERE s.parent_schema = t.parent_schema AND s.parent_name = t.parent_name
           AND s.status = 'ok') AS last_success
FROM {schema}.partition_run_tables t
ORDER BY t.parent_schema, t.parent_name, t.started_at DESC

-- name: parent_columns
-- The stored columns of a parent, in order (for moving rows between partitions).
SELECT a.attname
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum

-- name: columns_with_types
-- Every column of a table with its SQL type, for an archive manifest.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s
  AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum

-- name: try_leader_lock
-- The server's time, and the leader lock of partition maintenance (false when another run
-- holds it). The time is when the run began: the run's record is written with it later.
SELECT now(), pg_try_advisory_lock(%(key)s)

-- name: try_leader_lock_at
-- The schema's stored revision, the server's time, and the leader lock only when that is the
-- revision given (NULL otherwise): a run that checks the schema in its first round trip takes
-- nothing when the schema is behind. No row when the version table is empty.
SELECT v.version_num,
       now(),
       CASE WHEN v.version_num = %(revision)s THEN pg_try_advisory_lock(%(key)s) END
FROM {schema}.{version_table} v

-- name: begin_run
-- A maintenance run about to change something begins; started_at is the server's time of its
-- first round trip.
INSERT INTO {schema}.partition_runs (kind, dry_run, run_by, status, started_at)
VALUES (%(kind)s, %(dry_run)s, %(who)s, 'running', %(started_at)s)
RETURNING id

-- name: record_run
-- A maintenance run that changed nothing (nothing due, a dry run, skipped, failed before its
-- first change), recorded once as it ends.
INSERT INTO {schema}.partition_runs
    (kind, dry_run, run_by, status, started_at, finished_at, actions, errors, message)
VALUES (%(kind)s, %(dry_run)s, %(who)s, %(status)s, %(started_at)s, clock_timestamp(),
        %(actions)s, %(errors)s, %(message)s)
RETURNING id

-- name: leader_unlock
-- Release the leader lock.
SELECT pg_advisory_unlock(%(key)s)

-- name: relation_exists
-- Whether a relation of this name exists in this schema.
SELECT EXISTS (
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s)

-- name: table_column
-- The kind of a table and the type of one of its columns (for row retention).
SELECT c.relkind::text, format_type(a.atttypid, NULL)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a
       ON a.attrelid = c.oid AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s

-- name: partman_schema
-- The schema pg_partman is installed in, if it is.
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_partman'

-- name: partman_config
-- pg_partman's time-based sets: interval and retention as months and days.
SELECT parent_table,
       (extract(year FROM i) * 12 + extract(month FROM i))::int,
       extract(day FROM i)::int,
       premake,
       (extract(year FROM r) * 12 + extract(month FROM r))::int,
       extract(day FROM r)::int,
       retention_keep_table
FROM {part_config},
     LATERAL (SELECT partition_interval::interval AS i, retention::interval AS r) x
WHERE control IS NOT NULL
ORDER BY parent_table

-- name: seed_config
-- The seed job's partition.* keys in its own system_config table.
SELECT key, value::text FROM {seed_config} WHERE key LIKE 'partition.%%'

-- name: detach_step_begin
-- Record a partition about to be detached for archiving (before the DETACH).
INSERT INTO {schema}.partition_detach_steps
       (schema_name, partition_name, parent_schema, parent_name, lower_bound, upper_bound,
        archive_dir)
VALUES (%(schema_name)s, %(partition_name)s, %(parent_schema)s, %(parent_name)s, %(lower)s,
        %(upper)s, %(archive_dir)s)
ON CONFLICT (schema_name, partition_name) DO NOTHING

-- name: detach_step_done
-- The partition is archived and dropped, or attached again: nothing is pending.
DELETE FROM {schema}.partition_detach_steps
WHERE schema_name = %(schema_name)s AND partition_name = %(partition_name)s

-- name: detach_step_failed
-- Keep the reason a pending detach could not be finished.
UPDATE {schema}.partition_detach_steps SET last_error = %(error)s
WHERE schema_name = %(schema_name)s AND partition_name = %(partition_name)s

-- name: detach_steps_any
-- Whether any detach is left pending: a run asks this in its first round trip and reads
-- detach_steps_open only when one is (rarely); that query's joins on the catalog cost a
-- fresh connection more to plan (0.3-0.5 ms of server time) than the empty table to read.
SELECT true FROM {schema}.partition_detach_steps LIMIT 1

-- name: detach_steps_open
-- Every parent's detaches left pending with what the catalog says of each table now,
-- read once per run; each parent's rows go to its TableApplier without the first two columns.
SELECT s.parent_schema, s.parent_name,
       s.schema_name, s.partition_name, s.lower_bound, s.upper_bound, s.archive_dir,
       c.oid IS NOT NULL AS exists_now,
       coalesce(c.relispartition, false) AS is_partition,
       coalesce(i.inhdetachpending, false) AS detach_pending
FROM {schema}.partition_detach_steps s
LEFT JOIN pg_namespace n ON n.nspname = s.schema_name
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.partition_name
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
ORDER BY s.parent_schema, s.parent_name, s.lower_bound

-- name: detach_steps_all
-- Every detach left pending, for the plan's warnings.
SELECT parent_schema, parent_name, schema_name, partition_name, started_at, last_error
FROM {schema}.partition_detach_steps
ORDER BY started_at

-- name: relation_size
-- Bytes of a table with its indexes and TOAST: the archive's space estimate.
SELECT pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema_name)s AND c.relname = %(table_name)s

-- name: stamp_quiet
-- A run's stamps of the parents it found settled: each replaces the parent's last one.
INSERT INTO {schema}.partition_quiet AS q
    (parent_schema, parent_name, parent_oid, policy_version, children, children_hash,
     quiet_from, quiet_until)
SELECT s.parent_schema, s.parent_name, s.parent_oid, s.policy_version, s.children,
       s.children_hash, %(now)s, s.quiet_until
FROM unnest(%(schemas)s::text[], %(names)s::text[], %(oids)s::bigint[]::oid[],
            %(versions)s::text[], %(children)s::integer[], %(hashes)s::bigint[],
            %(untils)s::timestamptz[])
     AS s(parent_schema, parent_name, parent_oid, policy_version, children, children_hash,
          quiet_until)
ON CONFLICT (parent_schema, parent_name) DO UPDATE SET
    parent_oid = EXCLUDED.parent_oid, policy_version = EXCLUDED.policy_version,
    children = EXCLUDED.children, children_hash = EXCLUDED.children_hash,
    quiet_from = EXCLUDED.quiet_from, quiet_until = EXCLUDED.quiet_until
