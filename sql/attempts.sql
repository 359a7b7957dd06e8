-- The loader's record of its runs (table elier.load_attempts, catalog.sql).

-- name: record
INSERT INTO elier.load_attempts (started_at, outcome, build_id, source_dir, export_taken_at, reason)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: prune
-- A year of a run every 15 minutes is 35,000 rows: keep 90 days, and the
-- latest of each outcome whatever its age, so that status never forgets the
-- last success.
DELETE FROM elier.load_attempts a
WHERE a.finished_at < now() - interval '90 days'
  AND a.id NOT IN (SELECT max(id) FROM elier.load_attempts GROUP BY outcome);

-- name: last
-- The latest attempt of each outcome, for `elier-etl status`.
SELECT DISTINCT ON (outcome) outcome, started_at, finished_at, build_id, source_dir, export_taken_at, reason
FROM elier.load_attempts
ORDER BY outcome, id DESC;

-- name: exports
-- When the exports of the given builds were taken.
SELECT DISTINCT ON (build_id) build_id, export_taken_at
FROM elier.load_attempts
WHERE outcome = 'success' AND build_id = ANY($1) AND export_taken_at IS NOT NULL
ORDER BY build_id, id DESC;
