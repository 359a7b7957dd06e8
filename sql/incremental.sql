-- An incremental build: the documents that differ from the live build's
-- are staged in the build's own schema {{schema}} (UNLOGGED: on a failure
-- they are rebuilt from the files), then applied to the lineage's docs
-- table {{docs_schema}}.docs inside the swap's transaction, so a load killed
-- at any point leaves the lineage as it was.

-- name: stage
CREATE UNLOGGED TABLE {{schema}}.changes (
    id        integer NOT NULL,
    h_product bigint  NOT NULL,
    h_styles  bigint  NOT NULL,
    h_related bigint  NOT NULL,
    list_item text    NOT NULL,
    product   text    NOT NULL,
    styles    text    NOT NULL,
    related   text    NOT NULL
);
CREATE UNLOGGED TABLE {{schema}}.changed_skus (
    id         integer NOT NULL,
    product_id integer NOT NULL,
    quantity   integer NOT NULL
);

-- name: retire_child
-- The previous build $1 is a child of the base (the base was rolled back
-- to): its versions go, and the base's versions it had ended are current
-- again, before this build ends some of them in turn.
DELETE FROM {{docs_schema}}.docs WHERE since = $1;
-- name: retire_child_skus
DELETE FROM {{docs_schema}}.stock WHERE since = $1;
-- name: reopen
DELETE FROM {{docs_schema}}.ends WHERE until = $1;

-- name: supersede
-- $1 this build, $2 its base, $3 the product ids changed or removed: the
-- base's versions of them end at this build (their documents and their
-- skus' stock alike). Nothing is updated: the ends are appended.
INSERT INTO {{docs_schema}}.ends (id, since, until)
SELECT d.id, d.since, $1
FROM {{docs_schema}}.docs d
WHERE d.id = ANY($3::integer[]) AND d.since <= $2 AND NOT EXISTS (
    SELECT 1 FROM {{docs_schema}}.ends e WHERE e.id = d.id AND e.since = d.since AND e.until <= $2);

-- name: insert_skus
INSERT INTO {{docs_schema}}.stock (id, since, product_id, quantity)
SELECT id, $1, product_id, quantity FROM {{schema}}.changed_skus;

-- name: insert
INSERT INTO {{docs_schema}}.docs
    (id, since, h_product, h_styles, h_related, list_item, product, styles, related)
SELECT id, $1, h_product, h_styles, h_related, list_item, product, styles, related
FROM {{schema}}.changes;

-- name: gc
-- Versions no kept build can see: ended at or before $1, the oldest build
-- kept in this lineage. Best effort, after the swap: their documents and
-- stock first, then their ends.
DELETE FROM {{docs_schema}}.docs d USING {{docs_schema}}.ends e
WHERE e.id = d.id AND e.since = d.since AND e.until <= $1;
-- name: gc_skus
DELETE FROM {{docs_schema}}.stock s USING {{docs_schema}}.ends e
WHERE e.id = s.product_id AND e.since = s.since AND e.until <= $1;
-- name: gc_ends
DELETE FROM {{docs_schema}}.ends WHERE until <= $1;
