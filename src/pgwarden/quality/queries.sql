-- name: lock_batch
-- Serialise work on one batch id (a re-run waits for the first, then finds it stored).
SELECT pg_advisory_xact_lock(hashtextextended('pgwarden.quality_batch:' || %(batch_id)s, 0));

-- name: async_commit_local
-- This transaction's commit need not wait for the WAL flush (the caller's later one does).
SET LOCAL synchronous_commit = off;

-- name: store_result
-- A checked batch's row, its violations, its ids for later windows and its learned
-- schema, in one statement; nothing at all when the batch id is stored already (the
-- caller holds the batch's advisory lock, so that answer cannot change meanwhile).
-- Violations come as one JSON array and ids as one array: a statement per violation
-- and a COPY of the ids were a dozen round trips per batch.
WITH stored AS (
    INSERT INTO {schema}.quality_batches (
        batch_id, source, received_at, checked_at, records, expected_records, status,
        reject_reason, completeness, consistency, accuracy, timeliness, overall, level,
        violation_count, missing_values, type_mismatches, out_of_range, duplicates,
        stale_records, metadata, field_stats, processing_seconds, records_per_second,
        mb_per_second, peak_memory_bytes, input_bytes, counts, rules_version, field_count)
    SELECT
        %(batch_id)s, %(source)s, %(received_at)s, %(checked_at)s, %(records)s,
        %(expected_records)s, %(status)s, %(reject_reason)s, %(completeness)s, %(consistency)s,
        %(accuracy)s, %(timeliness)s, %(overall)s, %(level)s, %(violation_count)s,
        %(missing_values)s, %(type_mismatches)s, %(out_of_range)s, %(duplicates)s,
        %(stale_records)s, %(metadata)s, %(field_stats)s, %(processing_seconds)s,
        %(records_per_second)s, %(mb_per_second)s, %(peak_memory_bytes)s, %(input_bytes)s,
        %(counts)s, %(rules_version)s, %(field_count)s
     WHERE NOT EXISTS (SELECT 1 FROM {schema}.quality_batches WHERE batch_id = %(batch_id)s)
    ON CONFLICT DO NOTHING
    RETURNING batch_id, source, received_at
), violations AS (
    INSERT INTO {schema}.quality_violations (
        batch_id, received_at, source, rule, kind, field, severity, count, sample_ids, message)
    SELECT s.batch_id, s.received_at, s.source, v.rule, v.kind, v.field, v.severity, v.count,
           coalesce(v.sample_ids, '{{}}'), coalesce(v.message, '')
      FROM stored s,
           jsonb_to_recordset(%(violations)s::jsonb) AS v(
               rule text, kind text, field text, severity text, count integer,
               sample_ids text[], message text)
    ON CONFLICT DO NOTHING
), ids AS (
    INSERT INTO {schema}.quality_seen_ids (source, id, batch_id, received_at)
    SELECT s.source, i.id, s.batch_id, s.received_at
      FROM stored s, unnest(%(ids)b::text[]) AS i(id)
), learned AS (
    INSERT INTO {schema}.quality_schemas (source, fields, batch_id, updated_at)
    SELECT s.source, %(fields)s::jsonb, s.batch_id, now()
      FROM stored s
     WHERE %(fields)s::jsonb IS NOT NULL
    ON CONFLICT (source) DO UPDATE
       SET fields = EXCLUDED.fields, batch_id = EXCLUDED.batch_id, updated_at = now()
)
SELECT batch_id FROM stored;

-- name: get_batch
-- One stored batch by id.
SELECT batch_id, source, received_at, checked_at, records, status, reject_reason,
       completeness, consistency, accuracy, timeliness, overall, level, metadata,
       field_stats, processing_seconds, records_per_second, mb_per_second,
       peak_memory_bytes, input_bytes, counts, rules_version
  FROM {schema}.quality_batches
 WHERE batch_id = %(batch_id)s
 ORDER BY received_at DESC
 LIMIT 1;

-- name: batch_violations
-- The violations of one stored batch, worst first.
SELECT rule, kind, field, severity, count, sample_ids, message
  FROM {schema}.quality_violations
 WHERE batch_id = %(batch_id)s AND received_at = %(received_at)s
 ORDER BY count DESC, rule;

-- name: list_batches
-- Stored batches, newest first, optionally by source, status and time.
SELECT batch_id, source, received_at, checked_at, records, status, reject_reason,
       completeness, consistency, accuracy, timeliness, overall, level, metadata,
       field_stats, processing_seconds, records_per_second, mb_per_second,
       peak_memory_bytes, input_bytes, counts, rules_version
  FROM {schema}.quality_batches
 WHERE (%(source)s::text IS NULL OR source = %(source)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
 ORDER BY received_at DESC, batch_id
 LIMIT %(limit)s;

-- name: latest_rules
-- The active (latest) rules version of a source.
SELECT version, yaml, rules, created_at, created_by
  FROM {schema}.quality_rules
 WHERE source = %(source)s
 ORDER BY version DESC
 LIMIT 1;

-- name: rules_version
-- One stored rules version of a source.
SELECT version, yaml, rules, created_at, created_by
  FROM {schema}.quality_rules
 WHERE source = %(source)s AND version = %(version)s;

-- name: lock_rules
-- Serialise rule writes of one source, so versions never collide.
SELECT pg_advisory_xact_lock(hashtextextended('pgwarden.quality_rules:' || %(source)s, 0));

-- name: insert_rules
-- Store a new rules version.
INSERT INTO {schema}.quality_rules (source, version, yaml, rules, created_by)
SELECT %(source)s, coalesce(max(version), 0) + 1, %(yaml)s, %(rules)s, %(who)s
  FROM {schema}.quality_rules
 WHERE source = %(source)s
RETURNING version, created_at;

-- name: rules_history
-- Every stored version of a source's rules, newest first.
SELECT version, created_at, created_by, jsonb_array_length(rules -> 'rules')
  FROM {schema}.quality_rules
 WHERE source = %(source)s
 ORDER BY version DESC;

-- name: list_rules
-- The latest version of every source's rules.
SELECT DISTINCT ON (source) source, version, created_at, created_by,
       jsonb_array_length(rules -> 'rules')
  FROM {schema}.quality_rules
 ORDER BY source, version DESC;

-- name: get_schema
-- The learned schema of a source.
SELECT fields FROM {schema}.quality_schemas WHERE source = %(source)s;

-- name: seen_in_batches
-- Ids of this batch (found by hash, confirmed by text) already seen in the source's
-- last N accepted batches.
-- One index probe per id, whatever the statistics: a LATERAL subquery with LIMIT
-- cannot be flattened into a join, so even a generic plan cached while the table
-- was empty stays a nested loop over (source, id_hash), never a scan of the source.
-- The window's batch ids are an uncorrelated subquery, read once (an InitPlan).
SELECT b.id
  FROM unnest(%(ids)b::text[]) AS b(id)
 CROSS JOIN LATERAL (
       SELECT 1 FROM {schema}.quality_seen_ids s
        WHERE s.source = %(source)s AND s.id_hash = hashtextextended(b.id, 0) AND s.id = b.id
          AND s.batch_id = ANY(ARRAY(
                SELECT r.batch_id
                  FROM {schema}.quality_batches r
                 WHERE r.source = %(source)s AND r.status = 'ACCEPTED'
                 ORDER BY r.received_at DESC
                 LIMIT %(n)s))
        LIMIT 1) AS hit;

-- name: seen_since
-- Ids of this batch (found by hash, confirmed by text) already seen since a time.
-- One index probe per id, whatever the statistics (see seen_in_batches). The time
-- is tested after the probe (bool_or), so (source, received_at) is no index for it:
-- a generic plan made on an empty table chose that one and read the whole window per id.
SELECT b.id
  FROM unnest(%(ids)b::text[]) AS b(id)
 CROSS JOIN LATERAL (
       SELECT bool_or(s.received_at >= %(since)s) AS recent
         FROM {schema}.quality_seen_ids s
        WHERE s.source = %(source)s AND s.id_hash = hashtextextended(b.id, 0) AND s.id = b.id
       ) AS hit
 WHERE hit.recent;

-- name: prune_seen
-- Forget ids older than the retention (they can no longer be in any window).
DELETE FROM {schema}.quality_seen_ids
 WHERE source = %(source)s AND received_at < %(before)s;

-- name: intraday_scores
-- A day's scored batches per source in up to N equal time bins: (source, hour, score).
WITH b AS (
    SELECT source, received_at, overall
      FROM {schema}.quality_batches
     WHERE received_at >= %(start)s AND received_at < %(end)s
       AND overall IS NOT NULL
       AND source = ANY(%(sources)s::text[])
), span AS (
    SELECT source, extract(epoch FROM min(received_at)) AS lo,
           extract(epoch FROM max(received_at)) AS hi
      FROM b GROUP BY source
)
SELECT b.source,
       avg(extract(epoch FROM b.received_at - %(start)s::timestamptz)) / 3600.0 AS hour,
       avg(b.overall) AS score
  FROM b JOIN span USING (source)
 GROUP BY b.source,
          CASE WHEN span.hi = span.lo THEN 0
               ELSE width_bucket(extract(epoch FROM b.received_at), span.lo, span.hi + 0.001,
                                 %(bins)s) END
 ORDER BY b.source, hour;

-- name: recent_rejections
-- Whether each of a source's latest N batches was rejected, newest first.
SELECT status = 'REJECTED'
  FROM {schema}.quality_batches
 WHERE source = %(source)s AND received_at <= %(until)s
 ORDER BY received_at DESC
 LIMIT %(n)s;

-- name: source_arrivals
-- Per source seen since a time: its last arrival and the gaps (seconds) between its latest N.
SELECT s.source, s.last_at,
       coalesce((SELECT array_agg(g.gap ORDER BY g.at DESC)
                   FROM (SELECT a.received_at AS at,
                                extract(epoch FROM a.received_at
                                        - lag(a.received_at) OVER (ORDER BY a.received_at)) AS gap
                           FROM (SELECT b.received_at
                                   FROM {schema}.quality_batches b
                                  WHERE b.source = s.source AND b.received_at <= %(until)s
                                  ORDER BY b.received_at DESC
                                  LIMIT %(n)s) a) g
                  WHERE g.gap IS NOT NULL), ARRAY[]::numeric[]) AS gaps
  FROM (SELECT source, max(received_at) AS last_at
          FROM {schema}.quality_batches
         WHERE received_at > %(since)s AND received_at <= %(until)s
         GROUP BY source) s
 ORDER BY s.source;
