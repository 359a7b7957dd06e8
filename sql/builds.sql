-- name: try_lock
SELECT pg_try_advisory_lock(7461082917532);
-- name: unlock
SELECT pg_advisory_unlock(7461082917532);
-- name: live_sources
SELECT sources FROM elier.builds WHERE state = 'live';
-- name: live_counts
SELECT id, counts FROM elier.builds WHERE state = 'live';
-- name: debris
-- Build schemas no kept build reads: staging of failed, killed or finished
-- incremental builds, and the docs of retired full builds.
SELECT nspname::text FROM pg_namespace
WHERE nspname LIKE 'elier\_b%'
  AND nspname NOT IN (SELECT coalesce(docs_schema, schema_name) FROM elier.builds
                      WHERE state IN ('live', 'previous'));
-- name: debris_lists
DELETE FROM elier.list_ids
WHERE build_id NOT IN (SELECT id FROM elier.builds WHERE state IN ('live', 'previous'));
-- name: live_base
-- The live build as a base for an incremental one.
SELECT id, coalesce(docs_schema, schema_name), format FROM elier.builds WHERE state = 'live';
-- name: await_standbys
-- Run in a transaction of its own right after a swap: its commit waits
-- until the synchronous standbys (synchronous_standby_names: Patroni's
-- synchronous_mode), if any, have applied everything committed before it,
-- the swap included, and makes them report that at once (remote_apply's
-- feedback; otherwise a standby tells the leader what it applied only with
-- its next status message). The transactional message (prefix elier,
-- "<database> build <$1>", the build just made live, for any logical
-- decoding consumer to use or ignore) is what makes the
-- transaction wait: a commit waits for its standbys only when the
-- transaction wrote WAL before its commit record, which an xid alone does
-- not. Not the swap's own commit: a transaction
-- waiting for its standbys still holds its locks and is not yet visible on
-- the leader, and the swap holds the view's lock, which every reader
-- there needs. Without synchronous standbys: one local WAL flush.
SELECT set_config('synchronous_commit', 'remote_apply', true),
       pg_logical_emit_message(true, 'elier', current_database() || ' build ' || $1::bigint);
-- name: previous_of
-- The previous build, its docs schema and format, when there is one.
SELECT id, coalesce(docs_schema, schema_name), format FROM elier.builds WHERE state = 'previous';
-- name: oldest_kept
-- The oldest kept build whose documents are in docs schema $1.
SELECT min(id) FROM elier.builds WHERE state IN ('live', 'previous') AND docs_schema = $1;
-- name: writes_into
-- An incremental build $1 about to write versions into lineage $2: recorded
-- first, so that if it fails or is killed its versions are found.
UPDATE elier.builds SET docs_schema = $2 WHERE id = $1;
-- name: lineage_debris
-- Failed builds that may have written versions into a lineage that still
-- exists (a full build's docs_schema is its own schema).
SELECT id, docs_schema FROM elier.builds
WHERE state = 'failed' AND docs_schema IS NOT NULL AND docs_schema <> schema_name
  AND to_regclass(quote_ident(docs_schema) || '.docs') IS NOT NULL
ORDER BY id;
-- name: lineage_debris_gone
UPDATE elier.builds SET docs_schema = NULL WHERE id = $1;
-- name: mark_stale_failed
UPDATE elier.builds SET state = 'failed', finished_at = coalesce(finished_at, now()) WHERE state = 'building';
-- name: new_build
INSERT INTO elier.builds (id, schema_name, state, source_dir)
SELECT n, 'elier_b' || n, 'building', $1 FROM nextval('elier.build_id_seq') AS n
RETURNING id, schema_name;
-- name: finish_build
UPDATE elier.builds SET finished_at = now(), sources = $2, counts = $3, summary = $4,
    kind = $5, docs_schema = $6, base_id = $7, changed = $8, format = $9
WHERE id = $1;
-- name: fail_build
UPDATE elier.builds SET state = 'failed', finished_at = now() WHERE id = $1 AND state = 'building';
-- name: status
SELECT id, state, kind, coalesce(docs_schema, schema_name), base_id, coalesce(cardinality(changed), 0),
       started_at, finished_at, swapped_at, source_dir, sources, counts
FROM elier.builds WHERE state IN ('live', 'previous') ORDER BY state = 'previous', id DESC;
-- name: drop_schema
DROP SCHEMA IF EXISTS {{schema}} CASCADE;
-- name: base_stored_bytes
-- The stored bytes of build $1's served documents, as its load recorded
-- them (NULL for a build of a format before 4).
SELECT (counts->>'stored_bytes')::bigint FROM elier.builds WHERE id = $1;
