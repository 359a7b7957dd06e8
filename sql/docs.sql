-- The served documents of build {{schema}}: one row a product, each column
-- the exact bytes of one response body (see docs/ARCHITECTURE.md for why
-- text and not jsonb). Indexes come after the COPY (docs_index.sql).
CREATE TABLE {{schema}}.docs (
    id        integer NOT NULL,
    ord       integer NOT NULL,  -- 1-based position in id order: a list page is an ord range
    list_item text    NOT NULL,
    product   text    NOT NULL,
    styles    text    NOT NULL,
    related   text    NOT NULL
);

-- lz4 TOAST compression decompresses several times faster than the default
-- pglz, and a styles document (2-3 KB of repetitive URLs) compresses to fit
-- in line. Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE {{schema}}.docs ALTER COLUMN styles SET COMPRESSION lz4,
                                ALTER COLUMN product SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
