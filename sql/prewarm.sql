-- Warming a new build before the swap. Its documents were written by COPY
-- and read by CREATE INDEX through small ring buffers, so none of them is in
-- shared_buffers: without this, the API's first seconds on a new build
-- read every miss from the kernel's page cache (measured at 1,000,011
-- products: the first 8 s after a cold start served 11,451 req/s uniform,
-- 22,853 req/s with the build prewarmed; docs/BENCHMARKS.md). pg_prewarm
-- ships with PostgreSQL (contrib); when it cannot be installed or used,
-- the loader logs that and swaps a cold build, as before.

-- name: ensure
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_prewarm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    NULL;
END
$$;

-- name: prewarm
-- The table first, then its index (small, read by every lookup), so that
-- it is the last thing evicted if shared_buffers is short.
SELECT pg_prewarm('{{schema}}.docs'::regclass)
     + pg_prewarm('{{schema}}.docs_pkey'::regclass);
