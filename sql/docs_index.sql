-- The index of a full build's documents, built after the COPY; then
-- statistics for the key columns only (the documents are never filtered on,
-- and sampling them would decompress 30,000 of them). (id, since) finds a
-- product's versions: one, or a few while incremental builds replace it.

-- name: index
CREATE UNIQUE INDEX docs_pkey ON {{schema}}.docs (id, since);
-- name: finish
ALTER TABLE {{schema}}.docs ADD CONSTRAINT docs_pkey PRIMARY KEY USING INDEX docs_pkey;
ALTER TABLE {{schema}}.docs
    ALTER COLUMN list_item SET STATISTICS 0, ALTER COLUMN product SET STATISTICS 0,
    ALTER COLUMN styles SET STATISTICS 0, ALTER COLUMN related SET STATISTICS 0;
ANALYZE {{schema}}.docs;
