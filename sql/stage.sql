-- Staging tables of one build, in its own schema {{schema}}. UNLOGGED: they
-- are rebuilt from the CSV files on any failure, so they need no WAL; the
-- served docs table (docs.sql) is logged. pos is the row's line number in its
-- file, which orders features, photos and related as the reference API did.
-- skus and photos carry their product_id (known to the loader from the
-- styles it has read) so that documents are built from plain sorts.
CREATE SCHEMA {{schema}};

CREATE UNLOGGED TABLE {{schema}}.products (
    id            integer NOT NULL,
    name          text    NOT NULL,
    slogan        text    NOT NULL,
    description   text    NOT NULL,
    category      text    NOT NULL,
    default_price bigint  NOT NULL  -- cents
);

CREATE UNLOGGED TABLE {{schema}}.features (
    id         integer NOT NULL,
    product_id integer NOT NULL,
    pos        integer NOT NULL,
    feature    text    NOT NULL,
    value      text             -- NULL: `null` in the export
);

CREATE UNLOGGED TABLE {{schema}}.styles (
    id             integer NOT NULL,
    product_id     integer NOT NULL,
    name           text    NOT NULL,
    sale_price     bigint,          -- cents; NULL: no sale
    original_price bigint  NOT NULL, -- cents
    default_style  boolean NOT NULL
);

CREATE UNLOGGED TABLE {{schema}}.skus (
    id         integer NOT NULL,
    style_id   integer NOT NULL,
    product_id integer NOT NULL,
    pos        integer NOT NULL,
    size       text    NOT NULL,
    quantity   integer NOT NULL
);

CREATE UNLOGGED TABLE {{schema}}.photos (
    id            integer NOT NULL,
    style_id      integer NOT NULL,
    product_id    integer NOT NULL,
    pos           integer NOT NULL,
    url           text    NOT NULL,
    thumbnail_url text    NOT NULL
);

CREATE UNLOGGED TABLE {{schema}}.related (
    id                 integer NOT NULL,
    product_id         integer NOT NULL,
    pos                integer NOT NULL,
    related_product_id integer NOT NULL
);
