-- The catalogue's control schema: which builds exist and which one is live.
-- Idempotent; every elier-etl run applies it first.
--
-- Each build lives in its own schema elier_b<id> (staging tables while it is
-- built, then one docs table). The view elier.docs points at the live build's
-- docs; swapping a build in is CREATE OR REPLACE VIEW in one short transaction,
-- so readers see either the old build or the new one, whole.
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
    sources     jsonb NOT NULL DEFAULT '{}',   -- per file: size, sha256
    counts      jsonb NOT NULL DEFAULT '{}',   -- per table: rows loaded
    summary     jsonb NOT NULL DEFAULT '{}'    -- the end-of-run summary
);

CREATE SEQUENCE IF NOT EXISTS elier.build_id_seq;

-- At most one live and one previous build.
CREATE UNIQUE INDEX IF NOT EXISTS builds_one_live ON elier.builds ((true)) WHERE state = 'live';
CREATE UNIQUE INDEX IF NOT EXISTS builds_one_previous ON elier.builds ((true)) WHERE state = 'previous';

-- elier.docs is what the API reads: one row a product, its served JSON
-- documents as text (the exact bytes of the response bodies), and the build
-- they belong to. Until the first swap it is an empty placeholder of the same
-- shape, so readers never meet a missing relation.
DO $$
BEGIN
    IF to_regclass('elier.docs') IS NULL THEN
        CREATE VIEW elier.docs AS
        SELECT 0::bigint AS build_id, 0::integer AS id, 0::integer AS ord,
               ''::text AS list_item, ''::text AS product, ''::text AS styles, ''::text AS related
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
