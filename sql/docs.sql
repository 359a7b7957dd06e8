-- The served documents of a full build, in its schema {{schema}}: one row a
-- product version, each text column the exact bytes of one response body
-- (see docs/ARCHITECTURE.md for why text and not jsonb). The incremental
-- builds based on this one add their versions to the same table; a version
-- belongs to build B when since <= B < until (until NULL: still current).
-- The h_ columns are 64-bit hashes (xxHash64, as signed integers) of the
-- product, styles and related bodies: what a rebuild compares to find what
-- changed, and the API's ETags. Indexes come after the COPY (docs_index.sql).
CREATE TABLE {{schema}}.docs (
    id        integer NOT NULL,
    since     bigint  NOT NULL,
    until     bigint,
    h_product bigint  NOT NULL,
    h_styles  bigint  NOT NULL,
    h_related bigint  NOT NULL,
    list_item text    NOT NULL,
    product   text    NOT NULL,
    styles    text    NOT NULL,
    related   text    NOT NULL
);

-- Each sku's stock, versioned with its product the same way: what the
-- cart checks an add against (through elier.skus). A changed product's skus
-- all get new versions.
CREATE TABLE {{schema}}.stock (
    id         integer NOT NULL,
    since      bigint  NOT NULL,
    until      bigint,
    product_id integer NOT NULL,
    quantity   integer NOT NULL
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
