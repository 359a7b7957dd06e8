-- An incremental build: the documents that differ from the live build's
-- are written by the merge straight into the lineage's tables
-- {{docs_schema}}.docs and .stock, as versions whose since is the build's
-- id, which no view shows until the swap's (a view shows since <= its
-- build, and build ids only grow). The swap's one transaction ends the
-- versions they replace and points the views at the build. The versions of
-- a build that fails or is killed are deleted (unwrite) by its run or by
-- the next one before that writes any (pkg/build: dropDebris), so no later
-- build's view can show them.

-- name: retire_child_skus
-- The previous build $1 is a child of the base (the base was rolled back
-- to): its versions go (their skus' stock first, found through the skus
-- their documents list), and the base's versions it had ended are current
-- again, before this build ends some of them in turn.
DELETE FROM {{docs_schema}}.stock s
USING (SELECT unnest(skus) AS id FROM {{docs_schema}}.docs WHERE since = $1) v
WHERE s.id = v.id AND s.since = $1;
-- name: retire_child
DELETE FROM {{docs_schema}}.docs WHERE since = $1;
-- name: reopen
DELETE FROM {{docs_schema}}.ends WHERE until = $1;

-- name: supersede
-- $1 this build; $2 and $3 side by side, the ids and since of the base's
-- versions that end at this build (the changed and removed products', as
-- the comparison read them): their documents and their skus' stock alike.
-- Nothing is updated: the ends are appended.
INSERT INTO {{docs_schema}}.ends (id, since, until)
SELECT id, since, $1 FROM unnest($2::integer[], $3::bigint[]) AS v(id, since);

-- name: unwrite_skus
-- The versions build $1 wrote: its stock, then its documents. Scans (no
-- index leads with since): only a failed build's run, the next run after a
-- kill, and a start over on the staging path pay it.
DELETE FROM {{docs_schema}}.stock WHERE since = $1;
-- name: unwrite
DELETE FROM {{docs_schema}}.docs WHERE since = $1;

-- name: gc_skus
-- Versions no kept build can see: ended at or before $1, the oldest build
-- kept in this lineage. Best effort, after the swap: their skus' stock
-- first (found by the skus their documents list, through stock's primary
-- key), then their documents, then their ends.
DELETE FROM {{docs_schema}}.stock s
USING (SELECT unnest(d.skus) AS id, d.since
       FROM {{docs_schema}}.docs d JOIN {{docs_schema}}.ends e ON e.id = d.id AND e.since = d.since
       WHERE e.until <= $1) v
WHERE s.id = v.id AND s.since = v.since;
-- name: gc
DELETE FROM {{docs_schema}}.docs d USING {{docs_schema}}.ends e
WHERE e.id = d.id AND e.since = d.since AND e.until <= $1;
-- name: gc_ends
DELETE FROM {{docs_schema}}.ends WHERE until <= $1;

-- name: ended_bytes
-- The stored bytes of the base's versions that end at this build ($1 and
-- $2: their ids and since, side by side, as in supersede): what the live
-- catalogue loses of them (read by primary key, before the swap). A packed
-- product document counts as the body readers unpack (elier.body_length).
SELECT coalesce(sum(elier.body_length(d.product) + octet_length(d.styles) + octet_length(d.related)), 0)::bigint
FROM unnest($1::integer[], $2::bigint[]) AS v(id, since)
JOIN {{docs_schema}}.docs d ON d.id = v.id AND d.since = v.since;
