-- The served documents of a full build, in its schema {{schema}}: one row a
-- product version, each text column the exact bytes of one response body
-- (see docs/ARCHITECTURE.md for why text and not jsonb). The incremental
-- builds based on this one add their versions to the same tables. A version
-- is written once and never updated: the build that replaces or removes it
-- records its end in ends (below), so an incremental build's writes are
-- appends (its WAL is what it adds, not a rewrite of what it replaces).
-- A version (id, since) belongs to build B when since <= B and it has no
-- end at or before B.
-- The h_ columns are 64-bit hashes (xxHash64, as signed integers) of the
-- product, styles and related bodies: what a rebuild compares to find what
-- changed, and the API's ETags. h_input hashes the export rows the version
-- was built from (NULL when the build did not hash them: the staging path):
-- an incremental build skips building a product whose rows hash the same.
-- skus holds the ids of the version's skus, whose stock rows go when the
-- version does. Indexes come after the COPY (docs_index.sql).
CREATE TABLE {{schema}}.docs (
    id        integer   NOT NULL,
    since     bigint    NOT NULL,
    h_product bigint    NOT NULL,
    h_styles  bigint    NOT NULL,
    h_related bigint    NOT NULL,
    h_input   bigint,
    skus      integer[] NOT NULL,
    list_item text      NOT NULL,
    product   text      NOT NULL,
    styles    text      NOT NULL,
    related   text      NOT NULL
);

-- Each sku's stock, written with its product's version (same since) and
-- ended with it: what the cart checks an add against (through elier.skus).
CREATE TABLE {{schema}}.stock (
    id         integer NOT NULL,
    since      bigint  NOT NULL,
    product_id integer NOT NULL,
    quantity   integer NOT NULL
);

-- The end of a product version (its documents and its skus' stock): the
-- build that replaced or removed it.
CREATE TABLE {{schema}}.ends (
    id    integer NOT NULL,
    since bigint  NOT NULL,
    until bigint  NOT NULL,
    PRIMARY KEY (id, since)
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
