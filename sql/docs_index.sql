-- Indexes of the served documents, built after the COPY. The two CREATE
-- INDEX statements run at the same time on two connections (they take
-- compatible locks); then the id index becomes the primary key, and
-- statistics are gathered for the key columns only (the documents are never
-- filtered on, and sampling them would decompress 30,000 of them).

-- name: id_index
CREATE UNIQUE INDEX docs_pkey ON {{schema}}.docs (id);
-- name: ord_index
CREATE UNIQUE INDEX docs_ord ON {{schema}}.docs (ord);
-- name: finish
ALTER TABLE {{schema}}.docs ADD CONSTRAINT docs_pkey PRIMARY KEY USING INDEX docs_pkey;
ALTER TABLE {{schema}}.docs
    ALTER COLUMN list_item SET STATISTICS 0, ALTER COLUMN product SET STATISTICS 0,
    ALTER COLUMN styles SET STATISTICS 0, ALTER COLUMN related SET STATISTICS 0;
ANALYZE {{schema}}.docs;
