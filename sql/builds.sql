-- name: try_lock
SELECT pg_try_advisory_lock(7461082917532);
-- name: unlock
SELECT pg_advisory_unlock(7461082917532);
-- name: live_sources
SELECT sources FROM elier.builds WHERE state = 'live';
-- name: live_counts
SELECT id, counts FROM elier.builds WHERE state = 'live';
-- name: debris
SELECT nspname::text FROM pg_namespace
WHERE nspname LIKE 'elier\_b%'
  AND nspname NOT IN (SELECT schema_name FROM elier.builds WHERE state IN ('live', 'previous'));
-- name: mark_stale_failed
UPDATE elier.builds SET state = 'failed', finished_at = coalesce(finished_at, now()) WHERE state = 'building';
-- name: new_build
INSERT INTO elier.builds (id, schema_name, state, source_dir)
SELECT n, 'elier_b' || n, 'building', $1 FROM nextval('elier.build_id_seq') AS n
RETURNING id, schema_name;
-- name: finish_build
UPDATE elier.builds SET finished_at = now(), sources = $2, counts = $3, summary = $4 WHERE id = $1;
-- name: fail_build
UPDATE elier.builds SET state = 'failed', finished_at = now() WHERE id = $1 AND state = 'building';
-- name: previous_build
SELECT id, schema_name FROM elier.builds WHERE state = 'previous';
-- name: status
SELECT id, state, schema_name, started_at, finished_at, swapped_at, source_dir, sources, counts
FROM elier.builds WHERE state IN ('live', 'previous') ORDER BY state = 'previous', id DESC;
-- name: drop_schema
DROP SCHEMA IF EXISTS {{schema}} CASCADE;
