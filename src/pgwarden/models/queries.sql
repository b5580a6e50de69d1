-- name: snapshot
-- Enabled and disabled models, ACTIVE versions and edges in ONE statement (one MVCC snapshot).
SELECT
  (SELECT coalesce(json_agg(json_build_array(model_id, description, is_enabled) ORDER BY model_id), '[]')
     FROM {schema}.detection_models),
  (SELECT coalesce(json_agg(json_build_array(id, model_id, version, role, params, params_hash, entrypoint)
                            ORDER BY model_id, id), '[]')
     FROM {schema}.detection_model_versions WHERE status = 'ACTIVE'),
  (SELECT coalesce(json_agg(json_build_array(model_id, depends_on, input_key)
                            ORDER BY model_id, input_key), '[]')
     FROM {schema}.detection_model_dependencies);

-- name: notify
-- Tell other processes the registry changed (delivered at commit).
SELECT pg_notify(%(channel)s, %(payload)s);

-- name: lock_model
-- Serialise operator actions per model.
SELECT model_id, description, is_enabled FROM {schema}.detection_models
 WHERE model_id = %(model_id)s FOR UPDATE;

-- name: lock_graph
-- Serialise edge changes, so two concurrent edges cannot close a cycle together.
SELECT pg_advisory_xact_lock(hashtextextended('pgwarden.models.graph:' || %(schema)s, 0));

-- name: insert_model
-- A new model (nothing when it exists).
INSERT INTO {schema}.detection_models (model_id, description)
VALUES (%(model_id)s, %(description)s)
ON CONFLICT (model_id) DO NOTHING
RETURNING model_id;

-- name: update_model_description
-- Change a model's description.
UPDATE {schema}.detection_models SET description = %(description)s, updated_at = now()
 WHERE model_id = %(model_id)s;

-- name: set_enabled
-- Enable or disable a model.
UPDATE {schema}.detection_models SET is_enabled = %(enabled)s, updated_at = now()
 WHERE model_id = %(model_id)s;

-- name: get_version
-- One version of a model.
SELECT id, model_id, version, role, status, params, params_hash, entrypoint
  FROM {schema}.detection_model_versions
 WHERE model_id = %(model_id)s AND version = %(version)s;

-- name: active_primary
-- The ACTIVE PRIMARY of a model, if any.
SELECT id, version FROM {schema}.detection_model_versions
 WHERE model_id = %(model_id)s AND role = 'PRIMARY' AND status = 'ACTIVE';

-- name: insert_version
-- A new DRAFT version.
INSERT INTO {schema}.detection_model_versions
       (model_id, version, role, status, params, params_hash, entrypoint)
VALUES (%(model_id)s, %(version)s, %(role)s, 'DRAFT', %(params)s, %(params_hash)s, %(entrypoint)s)
RETURNING id;

-- name: set_version_state
-- Move a version to a role and status; stamps the activation or archive time.
UPDATE {schema}.detection_model_versions
   SET role = %(role)s, status = %(status)s, updated_at = now(),
       activated_at = CASE WHEN %(status)s = 'ACTIVE' THEN now() ELSE activated_at END,
       archived_at = CASE WHEN %(status)s = 'ARCHIVED' THEN now() ELSE archived_at END
 WHERE id = %(id)s;

-- name: insert_event
-- Audit one registry transition.
INSERT INTO {schema}.registry_events
       (actor, action, model_id, version_id, version, from_role, from_status,
        to_role, to_status, reason, details)
VALUES (%(actor)s, %(action)s, %(model_id)s, %(version_id)s, %(version)s, %(from_role)s,
        %(from_status)s, %(to_role)s, %(to_status)s, %(reason)s, %(details)s)
RETURNING id;

-- name: all_edges
-- Every dependency edge.
SELECT model_id, depends_on, input_key FROM {schema}.detection_model_dependencies;

-- name: model_exists
-- Whether a model exists.
SELECT is_enabled FROM {schema}.detection_models WHERE model_id = %(model_id)s;

-- name: insert_edge
-- A new dependency edge.
INSERT INTO {schema}.detection_model_dependencies (model_id, depends_on, input_key)
VALUES (%(model_id)s, %(depends_on)s, %(input_key)s);

-- name: delete_edge
-- Remove a dependency edge.
DELETE FROM {schema}.detection_model_dependencies
 WHERE model_id = %(model_id)s AND input_key = %(input_key)s
RETURNING depends_on;

-- name: list_models
-- Every model with its settings.
SELECT model_id, description, is_enabled, created_at FROM {schema}.detection_models
 ORDER BY model_id;

-- name: list_versions
-- Every version, without params.
SELECT id, model_id, version, role, status, params_hash, entrypoint, created_at,
       activated_at, archived_at, params
  FROM {schema}.detection_model_versions ORDER BY model_id, id;

-- name: events
-- The latest registry events, newest first, optionally for one model.
SELECT id, at, actor, action, model_id, version, from_role, from_status, to_role, to_status,
       reason, details
  FROM {schema}.registry_events
 WHERE (%(model_id)s::text IS NULL OR model_id = %(model_id)s)
 ORDER BY id DESC LIMIT %(limit)s;

-- name: try_cycle_lock
-- Only one session runs a given cycle id; held for the cycle on its connection.
SELECT pg_try_advisory_lock(hashtextextended('pgwarden.models.cycle:' || %(schema)s || ':' || %(cycle_id)s, 0));

-- name: cycle_unlock
-- Release the cycle id lock.
SELECT pg_advisory_unlock(hashtextextended('pgwarden.models.cycle:' || %(schema)s || ':' || %(cycle_id)s, 0));

-- name: get_cycle
-- A stored cycle.
SELECT cycle_id, cycle_time, started_at, finished_at, duration_ms, fingerprint, status,
       plan, error
  FROM {schema}.detection_cycles WHERE cycle_id = %(cycle_id)s;

-- name: insert_cycle
-- Claim a cycle id.
INSERT INTO {schema}.detection_cycles (cycle_id, cycle_time, fingerprint, plan)
VALUES (%(cycle_id)s, %(cycle_time)s, %(fingerprint)s, %(plan)s);

-- name: restart_cycle
-- Reset a cycle left RUNNING by a session that died (we hold its lock).
UPDATE {schema}.detection_cycles
   SET started_at = now(), fingerprint = %(fingerprint)s, plan = %(plan)s, error = NULL
 WHERE cycle_id = %(cycle_id)s;

-- name: delete_cycle_outputs
-- Outputs of a cycle left half-done by a session that died. An output row is written in
-- the statement that writes its run (insert_run_outputs), so the cycle's runs name every
-- model it has rows of: each is one probe of the (model_id, cycle_started_at) index. (The
-- outputs have no index by cycle: it cost every batch's writes about 4 %, for this rare
-- clean-up.)
DELETE FROM {schema}.detection_model_run_outputs
 WHERE cycle_started_at = %(cycle_time)s AND cycle_id = %(cycle_id)s
   AND model_id IN (SELECT r.model_id FROM {schema}.detection_model_runs r
                     WHERE r.cycle_id = %(cycle_id)s);

-- name: delete_cycle_runs
-- Runs (and their metrics) of a cycle left half-done by a session that died.
DELETE FROM {schema}.detection_model_runs WHERE cycle_id = %(cycle_id)s;

-- name: finish_cycle
-- Close a cycle with its counts.
UPDATE {schema}.detection_cycles
   SET finished_at = now(), duration_ms = %(duration_ms)s, status = %(status)s,
       versions_ok = %(ok)s, versions_failed = %(failed)s, versions_skipped = %(skipped)s,
       versions_timeout = %(timeout)s, output_rows = %(output_rows)s, error = %(error)s
 WHERE cycle_id = %(cycle_id)s;

-- name: insert_run
-- One version's run in a cycle.
INSERT INTO {schema}.detection_model_runs
       (cycle_id, cycle_time, model_id, version_id, version, role, status, reason,
        started_at, duration_ms, error_class, error_message, output_count, metric_count,
        dropped_metric_count)
VALUES (%(cycle_id)s, %(cycle_time)s, %(model_id)s, %(version_id)s, %(version)s, %(role)s,
        %(status)s, %(reason)s, %(started_at)s, %(duration_ms)s, %(error_class)s,
        %(error_message)s, %(output_count)s, %(metric_count)s, %(dropped_metric_count)s)
RETURNING id;

-- name: insert_run_outputs
-- One version's run, its output rows and its metrics in one statement (one round trip,
-- one transaction in autocommit). Outputs come as parallel arrays, sent in binary
-- (psycopg quotes text arrays element by element: 11x slower for 900 rows), and the
-- payloads as one JSON array (null: no payload); scores travel as text so that the
-- column's type decides, as with COPY. The array is split as json and each element
-- made jsonb: building the whole array as one jsonb first cost 15% more (3.9 against
-- 3.3 ms for 4,500 payloads).
WITH run AS (
    INSERT INTO {schema}.detection_model_runs
           (cycle_id, cycle_time, model_id, version_id, version, role, status, reason,
            started_at, duration_ms, error_class, error_message, output_count, metric_count,
            dropped_metric_count)
    VALUES (%(cycle_id)s, %(cycle_time)s, %(model_id)s, %(version_id)s, %(version)s, %(role)s,
            %(status)s, %(reason)s, %(started_at)s, %(duration_ms)s, %(error_class)s,
            %(error_message)s, %(output_count)s, %(metric_count)s, %(dropped_metric_count)s)
    RETURNING id
), outputs AS (
    INSERT INTO {schema}.detection_model_run_outputs
           (cycle_started_at, cycle_id, model_id, version_id, role, ordinal, entity_key, score,
            decision, payload)
    SELECT %(cycle_time)s, %(cycle_id)s, %(model_id)s, %(version_id)s, %(role)s,
           o.n - 1, o.entity_key, o.score::float8, o.decision,
           nullif(o.payload::jsonb, 'null'::jsonb)
      FROM ROWS FROM (unnest(%(keys)b::text[]), unnest(%(scores)b::text[]),
                      unnest(%(decisions)b::text[]),
                      json_array_elements(%(payloads)s::text::json))
           WITH ORDINALITY AS o (entity_key, score, decision, payload, n)
)
INSERT INTO {schema}.detection_model_metrics (run_id, cycle_id, version_id, metric_key, value)
SELECT run.id, %(cycle_id)s, %(version_id)s, m.k, m.v
  FROM run, unnest(%(metric_keys)b::text[], %(metric_values)b::float8[]) AS m (k, v);

-- name: cycle_runs
-- The runs of one cycle, in the order they were recorded.
SELECT model_id, version, version_id, role, status, reason, duration_ms, error_class,
       error_message, output_count, metric_count, dropped_metric_count
  FROM {schema}.detection_model_runs WHERE cycle_id = %(cycle_id)s ORDER BY id;

-- name: compare_runs
-- Every run of a model's versions since a time, with the cycle it belongs to.
SELECT r.cycle_id, r.version_id, r.version, r.role, r.status, r.duration_ms
  FROM {schema}.detection_model_runs r
 WHERE r.model_id = %(model_id)s AND r.cycle_time >= %(since)s
 ORDER BY r.cycle_time, r.cycle_id, r.version_id;

-- name: compare_outputs
-- The outputs of a model's versions since a time (pruned to the partitions in the window).
SELECT cycle_id, version_id, entity_key, score, decision
  FROM {schema}.detection_model_run_outputs
 WHERE model_id = %(model_id)s AND cycle_started_at >= %(since)s AND entity_key IS NOT NULL;

-- name: recent_cycles
-- The latest cycles, newest first.
SELECT cycle_id, cycle_time, started_at, finished_at, duration_ms, status, versions_ok,
       versions_failed, versions_skipped, versions_timeout, output_rows, fingerprint
  FROM {schema}.detection_cycles ORDER BY cycle_time DESC, started_at DESC LIMIT %(limit)s;

-- name: run_stats
-- Per model and role: mean duration over the last hour, failures (FAILED/TIMEOUT) ever.
SELECT model_id, role,
       avg(duration_ms) FILTER (WHERE started_at >= now() - interval '1 hour'
                                  AND status <> 'SKIPPED') / 1000.0,
       count(*) FILTER (WHERE status IN ('FAILED', 'TIMEOUT')),
       count(*) FILTER (WHERE started_at >= now() - interval '1 hour')
  FROM {schema}.detection_model_runs
 GROUP BY model_id, role ORDER BY model_id, role;

-- name: cycle_stats
-- Cycle durations of the last hour.
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) / 1000.0,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) / 1000.0,
       max(duration_ms) / 1000.0
  FROM {schema}.detection_cycles
 WHERE started_at >= now() - interval '1 hour' AND finished_at IS NOT NULL;

-- name: async_commit
-- Per-version commits of a cycle need not wait for the WAL flush (see cycle.py).
SET synchronous_commit = off;

-- name: sync_commit
-- Back to the server's setting before the cycle's closing commit.
RESET synchronous_commit;
