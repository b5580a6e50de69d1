-- name: open_for_source
-- The source's alerts that are not resolved (open or acknowledged), locked for the update.
SELECT id, rule, severity, clear_streak
FROM {schema}.alerts WHERE source = %(source)s AND status <> 'resolved'
ORDER BY id FOR UPDATE

-- name: last_resolved
-- When each rule of the source was last resolved, for the cool-down.
SELECT rule, max(resolved_at) FROM {schema}.alerts
WHERE source = %(source)s AND status = 'resolved' AND resolved_at >= %(since)s
GROUP BY rule

-- name: insert_alert
-- A new open alert.
INSERT INTO {schema}.alerts
    (source, rule, kind, severity, title, explanation, batch_id, first_seen, last_seen)
VALUES (%(source)s, %(rule)s, %(kind)s, %(severity)s, %(title)s, %(explanation)s,
        %(batch_id)s, %(now)s, %(now)s)
RETURNING id

-- name: update_alert
-- The condition is still there: count it, keep the latest explanation.
UPDATE {schema}.alerts
SET occurrences = occurrences + 1, clear_streak = 0, last_seen = %(now)s,
    severity = %(severity)s, title = %(title)s, explanation = %(explanation)s,
    batch_id = %(batch_id)s
WHERE id = %(id)s

-- name: touch_alert
-- A weaker occurrence: count it, keep the worst batch's severity and explanation.
UPDATE {schema}.alerts
SET occurrences = occurrences + 1, clear_streak = 0, last_seen = %(now)s
WHERE id = %(id)s

-- name: reopen_alert
-- The latest resolved alert of this rule comes back within the cool-down.
UPDATE {schema}.alerts
SET status = 'open', resolved_at = NULL, resolved_by = NULL, reopened = reopened + 1,
    occurrences = occurrences + 1, clear_streak = 0, last_seen = %(now)s,
    severity = %(severity)s, title = %(title)s, explanation = %(explanation)s,
    batch_id = %(batch_id)s
WHERE id = (SELECT id FROM {schema}.alerts
            WHERE source = %(source)s AND rule = %(rule)s AND status = 'resolved'
            ORDER BY resolved_at DESC LIMIT 1)
RETURNING id

-- name: clear_alert
-- One more clean batch for an open alert.
UPDATE {schema}.alerts SET clear_streak = %(streak)s WHERE id = %(id)s

-- name: resolve_alert
-- Resolve an alert that is not resolved yet; returns it when it changed.
UPDATE {schema}.alerts
SET status = 'resolved', resolved_at = %(now)s, resolved_by = %(who)s
WHERE id = %(id)s AND status <> 'resolved'
RETURNING id

-- name: acknowledge_alert
-- Someone has seen it; it stays open until resolved.
UPDATE {schema}.alerts
SET status = 'acknowledged', acknowledged_at = %(now)s, acknowledged_by = %(who)s
WHERE id = %(id)s AND status = 'open'
RETURNING id

-- name: get_alert
-- One alert as a row.
SELECT id, source, rule, kind, severity, status, title, explanation, batch_id, occurrences,
       reopened, first_seen, last_seen, notified_at, acknowledged_by, acknowledged_at,
       resolved_by, resolved_at
FROM {schema}.alerts WHERE id = %(id)s

-- name: list_alerts
-- Alerts, newest first, optionally filtered.
SELECT id, source, rule, kind, severity, status, title, explanation, batch_id, occurrences,
       reopened, first_seen, last_seen, notified_at, acknowledged_by, acknowledged_at,
       resolved_by, resolved_at
FROM {schema}.alerts
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(severity)s::text IS NULL OR severity = %(severity)s)
  AND (%(source)s::text IS NULL OR source = %(source)s)
ORDER BY last_seen DESC, id DESC
LIMIT %(limit)s

-- name: open_counts
-- Alerts not yet resolved, by severity.
SELECT severity, count(*) FROM {schema}.alerts WHERE status <> 'resolved' GROUP BY severity

-- name: enqueue_delivery
-- One pending delivery of one event to one channel (the outbox).
INSERT INTO {schema}.alert_deliveries (alert_id, event, channel, payload, next_attempt_at)
VALUES (%(alert_id)s, %(event)s, %(channel)s, %(payload)s, %(now)s)
RETURNING id

-- name: mark_notified
-- The alert has at least one delivery queued.
UPDATE {schema}.alerts SET notified_at = %(now)s WHERE id = %(id)s

-- name: due_deliveries
-- Pending deliveries whose time has come, locked so two workers never send the same one.
SELECT id, alert_id, event, channel, payload, attempts
FROM {schema}.alert_deliveries
WHERE status = 'pending' AND next_attempt_at <= %(now)s
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
ORDER BY next_attempt_at, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: delivered
-- A channel accepted it.
UPDATE {schema}.alert_deliveries
SET status = 'delivered', attempts = attempts + 1, delivered_at = %(now)s, last_error = NULL
WHERE id = %(id)s

-- name: failed
-- Not this time: keep it pending and say when to try again.
UPDATE {schema}.alert_deliveries
SET attempts = attempts + 1, last_error = %(error)s, next_attempt_at = %(next)s
WHERE id = %(id)s

-- name: list_deliveries
-- The deliveries of one alert (or all), newest first.
SELECT id, alert_id, event, channel, status, attempts, next_attempt_at, last_error,
       created_at, delivered_at
FROM {schema}.alert_deliveries
WHERE (%(alert_id)s::bigint IS NULL OR alert_id = %(alert_id)s)
ORDER BY id DESC LIMIT %(limit)s
