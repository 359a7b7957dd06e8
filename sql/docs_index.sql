-- The index of a full build's documents, built after the COPY; then
-- statistics for the key columns only (the documents are never filtered on,
-- and sampling them would decompress 30,000 of them). (id, since) finds a
-- product's versions: one, or a few while incremental builds replace it.

-- name: index
CREATE UNIQUE INDEX docs_pkey ON {{schema}}.docs (id, since);
-- name: index_skus
CREATE UNIQUE INDEX stock_pkey ON {{schema}}.stock (id, since);
-- name: finish
-- Ended versions only (few): what the clean-up after a swap and a retired
-- build's undoing look for. An incremental build ends a product's skus by
-- its product id.
CREATE INDEX docs_ended ON {{schema}}.docs (until) WHERE until IS NOT NULL;
CREATE INDEX stock_ended ON {{schema}}.stock (until) WHERE until IS NOT NULL;
CREATE INDEX stock_product ON {{schema}}.stock (product_id);
ALTER TABLE {{schema}}.docs ADD CONSTRAINT docs_pkey PRIMARY KEY USING INDEX docs_pkey;
ALTER TABLE {{schema}}.stock ADD CONSTRAINT stock_pkey PRIMARY KEY USING INDEX stock_pkey;
ALTER TABLE {{schema}}.docs
    ALTER COLUMN list_item SET STATISTICS 0, ALTER COLUMN product SET STATISTICS 0,
    ALTER COLUMN styles SET STATISTICS 0, ALTER COLUMN related SET STATISTICS 0;
ANALYZE {{schema}}.docs;
ANALYZE {{schema}}.stock;
