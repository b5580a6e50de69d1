-- name: all_values
-- Every stored runtime config value, as text so broken values can be reported.
SELECT key, value::text, updated_at, updated_by FROM {schema}.system_config;

-- name: lock_value
-- The stored value of one key, locked for the write that follows.
SELECT value FROM {schema}.system_config WHERE key = %(key)s FOR UPDATE;

-- name: upsert_value
-- Store one value.
INSERT INTO {schema}.system_config (key, value, updated_at, updated_by)
VALUES (%(key)s, %(value)s, now(), %(who)s)
ON CONFLICT (key) DO UPDATE
   SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by;

-- name: delete_value
-- Forget a stored value, so the default applies again.
DELETE FROM {schema}.system_config WHERE key = %(key)s;

-- name: record_history
-- Audit one write.
INSERT INTO {schema}.config_history (key, old_value, new_value, changed_by)
VALUES (%(key)s, %(old)s, %(new)s, %(who)s);

-- name: history
-- The latest writes, newest first, optionally for one key.
SELECT key, old_value, new_value, changed_by, changed_at
  FROM {schema}.config_history
 WHERE (%(key)s::text IS NULL OR key = %(key)s)
 ORDER BY changed_at DESC, id DESC
 LIMIT %(limit)s;
