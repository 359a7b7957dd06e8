-- The served documents of a full build, in its schema {{schema}}: one row a
-- product version. product, styles and related are the stored form of the
-- three response bodies (pkg/stored): gzip-coded, once, at build time, or
-- the body as it is when coding would not pay. A product's item in GET
-- /products is not stored: it is the product document up to its features,
-- closed (readmodel.ListItem); formats up to 4 stored it too, about a fifth
-- of the table. The API sends them as they
-- are (see docs/ARCHITECTURE.md for why bytes and not jsonb). The incremental
-- builds based on this one add their versions to the same tables. A version
-- is written once and never updated: the build that replaces or removes it
-- records its end in ends (below), so an incremental build's writes are
-- appends (its WAL is what it adds, not a rewrite of what it replaces).
-- A version (id, since) belongs to build B when since <= B and it has no
-- end at or before B.
-- The h_ columns are 64-bit hashes (xxHash64, as signed integers) of the
-- product, styles and related bodies (not of their stored form): what a rebuild compares to find what
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
    product   bytea     NOT NULL,
    styles    bytea     NOT NULL,
    related   bytea     NOT NULL
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

-- The documents are already coded: PostgreSQL is told not to try to
-- compress them again (a row is under TOAST's 2 KB threshold anyway, but for
-- the rare product with dozens of styles). Storage formats up to 3 kept the
-- plain bodies and relied on lz4 TOAST compression (styles to about 0.35x);
-- gzip takes them to 0.23x and the API no longer compresses per request.
ALTER TABLE {{schema}}.docs ALTER COLUMN product SET STORAGE EXTERNAL,
                            ALTER COLUMN styles SET STORAGE EXTERNAL,
                            ALTER COLUMN related SET STORAGE EXTERNAL;
