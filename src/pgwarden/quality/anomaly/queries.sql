-- name: history_points
-- The source's batches in the baseline window (not the one under test), with the
-- metrics already flagged for each (left out of later baselines; null when none: an
-- empty array per row cost more to read than all the rest of the row).
SELECT b.batch_id, b.received_at, b.records, b.status, b.missing_values, b.type_mismatches,
       COALESCE(b.field_count,
                (SELECT count(*) FROM jsonb_object_keys(b.field_stats))::int) AS fields,
       (SELECT array_agg(a.metric || COALESCE(':' || a.field, ''))
        FROM {schema}.quality_anomalies a WHERE a.batch_id = b.batch_id) AS flagged
FROM {schema}.quality_batches b
WHERE b.source = %(source)s AND b.received_at >= %(since)s AND b.received_at < %(until)s
  AND b.batch_id <> %(batch_id)s
ORDER BY b.received_at

-- name: history_stats
-- Per-field summaries of the source's latest accepted batches (drift and outlier reference),
-- with the row's version (xmin); null for the rows the caller holds already, same version
-- (their jsonb is neither read nor sent).
SELECT batch_id, xmin::text,
       CASE WHEN batch_id || ':' || xmin::text = ANY(%(cached)b::text[]) THEN NULL
            ELSE field_stats END
FROM {schema}.quality_batches
WHERE source = %(source)s AND received_at < %(until)s AND received_at >= %(since)s
  AND status = 'ACCEPTED' AND batch_id <> %(batch_id)s
ORDER BY received_at DESC
LIMIT %(limit)s

-- name: claim_evaluation
-- Mark the batch as handled; returns nothing when it already was (idempotent hook).
INSERT INTO {schema}.quality_evaluations (batch_id, source, received_at)
VALUES (%(batch_id)s, %(source)s, %(received_at)s)
ON CONFLICT (batch_id) DO NOTHING
RETURNING batch_id

-- name: finish_evaluation
-- The evaluation's counts and per-test summary.
UPDATE {schema}.quality_evaluations
SET tested = %(tested)s, insufficient = %(insufficient)s, anomalies = %(anomalies)s,
    summary = %(summary)s
WHERE batch_id = %(batch_id)s

-- name: insert_anomaly
-- One anomaly with everything needed to explain it.
INSERT INTO {schema}.quality_anomalies
    (batch_id, source, received_at, metric, field, observed, expected, low, high, direction,
     p_value, q_value, score, method, details)
VALUES (%(batch_id)s, %(source)s, %(received_at)s, %(metric)s, %(field)s, %(observed)s,
        %(expected)s, %(low)s, %(high)s, %(direction)s, %(p_value)s, %(q_value)s, %(score)s,
        %(method)s, %(details)s)
ON CONFLICT (batch_id, metric, field) DO NOTHING

-- name: list_anomalies
-- Anomalies, newest first, optionally for one source and since a time.
SELECT id, batch_id, source, received_at, metric, field, observed, expected, low, high,
       direction, p_value, q_value, score, method, details
FROM {schema}.quality_anomalies
WHERE (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s

-- name: merge_daily
-- Add one batch to its source's day: sums, extremes, and per-rule / per-level counts.
INSERT INTO {schema}.quality_daily AS d
    (source, day, batches, accepted, rejected, records, score_sum, scored, score_min,
     processing_seconds, peak_records_per_second, issues, violation_count, anomalies,
     alerts_opened, rule_failures, levels, updated_at)
VALUES (%(source)s, %(day)s, 1, %(accepted)s, %(rejected)s, %(records)s, %(score_sum)s,
        %(scored)s, %(score_min)s, %(seconds)s, %(rps)s, %(issues)s, %(violations)s,
        %(anomalies)s, %(alerts)s, %(rules)s, %(levels)s, now())
ON CONFLICT (source, day) DO UPDATE SET
    batches = d.batches + 1,
    accepted = d.accepted + EXCLUDED.accepted,
    rejected = d.rejected + EXCLUDED.rejected,
    records = d.records + EXCLUDED.records,
    score_sum = d.score_sum + EXCLUDED.score_sum,
    scored = d.scored + EXCLUDED.scored,
    score_min = LEAST(d.score_min, EXCLUDED.score_min),
    processing_seconds = d.processing_seconds + EXCLUDED.processing_seconds,
    peak_records_per_second = GREATEST(d.peak_records_per_second, EXCLUDED.peak_records_per_second),
    issues = d.issues + EXCLUDED.issues,
    violation_count = d.violation_count + EXCLUDED.violation_count,
    anomalies = d.anomalies + EXCLUDED.anomalies,
    alerts_opened = d.alerts_opened + EXCLUDED.alerts_opened,
    rule_failures = (
        SELECT COALESCE(jsonb_object_agg(k, total), d.rule_failures)
        FROM (SELECT k, sum(v::bigint) AS total
              FROM (SELECT key AS k, value AS v FROM jsonb_each_text(d.rule_failures)
                    UNION ALL
                    SELECT key, value FROM jsonb_each_text(EXCLUDED.rule_failures)) AS x
              GROUP BY k) AS y),
    levels = (
        SELECT COALESCE(jsonb_object_agg(k, total), d.levels)
        FROM (SELECT k, sum(v::bigint) AS total
              FROM (SELECT key AS k, value AS v FROM jsonb_each_text(d.levels)
                    UNION ALL
                    SELECT key, value FROM jsonb_each_text(EXCLUDED.levels)) AS x
              GROUP BY k) AS y),
    updated_at = now()

-- name: daily_rows
-- The per-source daily state between two days (inclusive).
SELECT source, day, batches, accepted, rejected, records, score_sum, scored, score_min,
       processing_seconds, peak_records_per_second, issues, violation_count, anomalies,
       alerts_opened, rule_failures, levels
FROM {schema}.quality_daily
WHERE day BETWEEN %(first)s AND %(last)s
ORDER BY source, day

-- name: store_report
-- Keep the day's report (a re-run replaces it).
INSERT INTO {schema}.quality_reports (day, report) VALUES (%(day)s, %(report)s)
ON CONFLICT (day) DO UPDATE SET report = EXCLUDED.report, generated_at = now()

-- name: report_exists
-- Whether the day's report was written already.
SELECT 1 FROM {schema}.quality_reports WHERE day = %(day)s
