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
