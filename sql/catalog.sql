-- The catalogue's control schema: which builds exist and which one is live.
-- Idempotent; every elier-etl run applies it first.
--
-- Each build stages its export in its own schema elier_b<id>. A full build
-- also writes every document into a new docs table there (docs.sql), which
-- becomes a lineage: the incremental builds that follow add versions of the
-- documents that changed to the same table, each row valid from the build
-- that wrote it (since) until the build that replaced it (until). The view
-- elier.docs shows one build's versions; swapping a build in is CREATE OR
-- REPLACE VIEW in one short transaction (after an incremental build's rows
-- are applied in that same transaction), so readers see either the old
-- build or the new one, whole. See docs/ARCHITECTURE.md.
CREATE SCHEMA IF NOT EXISTS elier;

CREATE TABLE IF NOT EXISTS elier.builds (
    id          bigint PRIMARY KEY,
    schema_name text NOT NULL UNIQUE,
    -- building: being loaded; live: served; previous: kept for rollback;
    -- failed / retired: gone (their schemas are dropped).
    state       text NOT NULL CHECK (state IN ('building', 'live', 'previous', 'failed', 'retired')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    swapped_at  timestamptz,
    source_dir  text NOT NULL DEFAULT '',
    sources     jsonb NOT NULL DEFAULT '{}',   -- per file: size, xxh64
    counts      jsonb NOT NULL DEFAULT '{}',   -- per table: rows loaded
    summary     jsonb NOT NULL DEFAULT '{}'    -- the end-of-run summary
);

-- Added with incremental builds (format 2):
--   kind         full: every document written; incremental: only changes.
--   docs_schema  the schema whose docs table holds this build's documents
--                (its own for a full build, its base's for an incremental).
--   base_id      the live build this one was compared with; NULL: none.
--   changed      product ids whose documents differ from base_id's
--                (changed, added and removed): the API drops just these
--                from its cache when it moves from base_id to this build.
--   format       the documents' storage format; a live build of another
--                format is never a base for an incremental build.
ALTER TABLE elier.builds
    ADD COLUMN IF NOT EXISTS kind        text NOT NULL DEFAULT 'full',
    ADD COLUMN IF NOT EXISTS docs_schema text,
    ADD COLUMN IF NOT EXISTS base_id     bigint,
    ADD COLUMN IF NOT EXISTS changed     integer[],
    ADD COLUMN IF NOT EXISTS format      integer NOT NULL DEFAULT 1;

CREATE SEQUENCE IF NOT EXISTS elier.build_id_seq;

-- The list's order, per build: chunk c holds the product ids at positions
-- c*1000+1 .. c*1000+1000 in ascending id order, so a page of
-- GET /products is one or two chunk rows and a primary-key probe per item,
-- whatever its depth (no OFFSET scan). Rewritten by every build (4 KB per
-- thousand products): adding or removing one product moves every later
-- position.
CREATE TABLE IF NOT EXISTS elier.list_ids (
    build_id bigint  NOT NULL,
    chunk    integer NOT NULL,
    ids      integer[] NOT NULL,
    PRIMARY KEY (build_id, chunk)
);

-- The dictionary each lineage's product documents are packed with
-- (pkg/stored, storage format 6), id the lineage's full build: a packed
-- document names it. Readers load it once; a lineage's dictionary goes
-- when its schema does (sql/dicts.sql, debris_dicts).
CREATE TABLE IF NOT EXISTS elier.dicts (
    id          bigint PRIMARY KEY,
    docs_schema text   NOT NULL UNIQUE,
    dict        bytea  NOT NULL
);

-- The length of a stored document as readers get it: a packed one's
-- (pkg/stored: 0x00, a uvarint dictionary id, then an S2 block, which
-- starts with the body's length as a uvarint) is its body's, unpacked;
-- any other's, its own. What a load's stored_bytes counts.
-- Created once, not replaced: the role that runs a later load may not own it
-- (a change to it takes a new name).
DO $do$
BEGIN
    IF to_regprocedure('elier.body_length(bytea)') IS NULL THEN
        CREATE FUNCTION elier.body_length(b bytea) RETURNS bigint
        LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
        DECLARE
            i     integer := 1;
            c     integer;
            n     bigint := 0;
            shift integer := 0;
        BEGIN
            IF length(b) < 3 OR get_byte(b, 0) <> 0 THEN
                RETURN length(b);
            END IF;
            WHILE i < length(b) AND get_byte(b, i) >= 128 LOOP -- the dictionary id
                i := i + 1;
            END LOOP;
            i := i + 1;
            WHILE i < length(b) AND shift < 63 LOOP
                c := get_byte(b, i);
                n := n | ((c & 127)::bigint << shift);
                EXIT WHEN c < 128;
                shift := shift + 7;
                i := i + 1;
            END LOOP;
            RETURN n;
        END
        $fn$;
    END IF;
END
$do$;

-- At most one live and one previous build.
CREATE UNIQUE INDEX IF NOT EXISTS builds_one_live ON elier.builds ((true)) WHERE state = 'live';
CREATE UNIQUE INDEX IF NOT EXISTS builds_one_previous ON elier.builds ((true)) WHERE state = 'previous';

-- elier.docs is what the API reads: one row a product, its list item as
-- text and its three served JSON documents in their stored form (bytea,
-- gzip-coded or as they are: pkg/stored), a 64-bit hash of each body
-- of each (the ETag: the same bytes have the same tag in every build), and
-- the build they belong to. Until the first swap it is an empty placeholder
-- of the same shape, so readers never meet a missing relation. A view of
-- the first storage format (with ord) is left serving as it is: the first
-- swap of this format replaces it (sql/swap.sql), in its transaction.
DO $$
BEGIN
    IF to_regclass('elier.docs') IS NULL THEN
        CREATE VIEW elier.docs AS
        SELECT 0::bigint AS build_id, 0::integer AS id,
               ''::bytea AS product, ''::bytea AS styles, ''::bytea AS related,
               0::bigint AS h_product, 0::bigint AS h_styles, 0::bigint AS h_related
        WHERE false;
    END IF;
END
$$;
-- elier.skus is the live build's sku stock, for the cart's check (the cart
-- reads nothing else of the catalogue): one row a sku, switched with
-- elier.docs in the same swap. An empty placeholder until the first swap.
DO $$
BEGIN
    IF to_regclass('elier.skus') IS NULL THEN
        CREATE VIEW elier.skus AS
        SELECT 0::integer AS id, 0::integer AS quantity
        WHERE false;
    END IF;
END
$$;

-- Every run of `elier-etl load`, whatever its end, so that an operator and
-- the API's /metrics can tell when the scheduled rebuild last worked and
-- last failed (a catalogue that silently stops being rebuilt goes stale
-- with nothing else to show for it). Written by cmd/etl around the rebuild,
-- outside its transaction and lock: a failed or refused run is recorded too.
CREATE TABLE IF NOT EXISTS elier.load_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    -- success: a new build went live; unchanged: --if-changed found the
    -- live build's export again (the job works, there was nothing to do);
    -- busy: another load held the lock; failed: anything else.
    outcome         text NOT NULL CHECK (outcome IN ('success', 'unchanged', 'busy', 'failed')),
    build_id        bigint,          -- the build made live, or the one that failed
    source_dir      text NOT NULL DEFAULT '',
    -- The newest modification time of the six files: when the export was
    -- taken, as near as the loader can tell.
    export_taken_at timestamptz,
    reason          text NOT NULL DEFAULT ''  -- the error, password-free
);
CREATE INDEX IF NOT EXISTS load_attempts_outcome ON elier.load_attempts (outcome, finished_at DESC);
