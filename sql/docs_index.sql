-- The indexes of a full build's documents and stock, built after the COPY;
-- then statistics for the key columns only (the documents are never
-- filtered on, and sampling them would decompress 30,000 of them).
-- (id, since) finds a product's versions, or a sku's: one, or a few while
-- incremental builds replace it. (A version's skus are found through the
-- ids its docs row lists, so stock needs no second index: each index an
-- incremental build adds to costs a full page image per leaf it touches.)

-- name: index
CREATE UNIQUE INDEX docs_pkey ON {{schema}}.docs (id, since);
-- name: index_skus
CREATE UNIQUE INDEX stock_pkey ON {{schema}}.stock (id, since);
-- name: finish
ALTER TABLE {{schema}}.docs ADD CONSTRAINT docs_pkey PRIMARY KEY USING INDEX docs_pkey;
ALTER TABLE {{schema}}.stock ADD CONSTRAINT stock_pkey PRIMARY KEY USING INDEX stock_pkey;
ALTER TABLE {{schema}}.docs
    ALTER COLUMN product SET STATISTICS 0, ALTER COLUMN styles SET STATISTICS 0,
    ALTER COLUMN related SET STATISTICS 0;
ANALYZE {{schema}}.docs;
ANALYZE {{schema}}.stock;
