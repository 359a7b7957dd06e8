-- The API's cart statements (pkg/cart). Only elier_cart and the view
-- elier.skus are named here: the cart never reads a build schema directly.

-- name: lock
-- Takes the locks of a group's sessions ($1, in the group's order) for the
-- rest of the transaction: one session's adds run one at a time (the
-- 100-sku limit is then exact), across groups and API instances. An
-- advisory lock writes nothing: no tuple, no WAL, unlike a row lock on the
-- cart's row. A session's key is the first 8 bytes of its sha256 as two
-- int4 (the same in expire, below); sessions sharing a key (one chance in
-- 2^64) only wait on each other, and a session twice in a group takes its
-- lock twice, which a transaction may. The two-int4 form keeps these keys
-- apart from the loader's bigint keys. Taken in session order by every
-- group (the caller sorts), which is the keys' order, so groups never
-- deadlock.
SELECT count(pg_advisory_xact_lock(
    ('x' || encode(substring(s FROM 1 FOR 4), 'hex'))::bit(32)::int4,
    ('x' || encode(substring(s FROM 5 FOR 4), 'hex'))::bit(32)::int4))
FROM unnest($1::bytea[]) AS s;

-- name: add
-- One unit of sku $2 into session $1's cart, in one statement, under the
-- stock check: count = count + 1 only while count < the live quantity, a
-- new sku only while the cart holds fewer than $3 skus. Run under the
-- session's lock, in the same transaction: this statement's snapshot then
-- sees every earlier add of the session. The cart's row is made by its
-- first add that lands (a client sending made-up sessions and skus writes
-- nothing that stays), and its touched_at is rewritten at most once per $4
-- seconds: an add usually writes one row. Answers the new count (NULL:
-- nothing added), the live quantity (NULL: no such sku) and the cart's
-- distinct skus before.
WITH stock AS (
    SELECT quantity FROM elier.skus WHERE id = $2
), cart AS (
    SELECT count(*) AS skus, coalesce(bool_or(sku_id = $2), false) AS has
    FROM elier_cart.items WHERE session = $1
), added AS (
    INSERT INTO elier_cart.items AS i (session, sku_id, count)
    SELECT $1, $2, 1 FROM stock, cart
    WHERE stock.quantity >= 1 AND (cart.skus < $3 OR cart.has)
    ON CONFLICT (session, sku_id) DO UPDATE SET count = i.count + 1
    WHERE i.count < (SELECT quantity FROM stock)
    RETURNING i.count
), made AS (
    INSERT INTO elier_cart.carts (session) SELECT $1 FROM added
    ON CONFLICT (session) DO NOTHING
), touched AS (
    UPDATE elier_cart.carts SET touched_at = now()
    WHERE session = $1 AND touched_at < now() - make_interval(secs => $4::float8)
)
SELECT (SELECT count FROM added), (SELECT quantity FROM stock), (SELECT skus FROM cart);

-- name: list_many
-- The carts of the sessions $1 (a batch of concurrent reads), each in the
-- order its skus first entered it.
SELECT session, sku_id, count FROM elier_cart.items
WHERE session = ANY($1::bytea[])
ORDER BY session, seq;

-- name: expire
-- One bounded batch of idle carts: those untouched for $1 seconds, oldest
-- first, at most $2. A cart whose session lock an add holds right now
-- (lock, above; the same key) is not idle and is skipped, never waited
-- for: the add then never finds its cart half-deleted, and an add arriving
-- during the sweep waits for it and starts a fresh cart. SKIP LOCKED:
-- several APIs may sweep at once without waiting on each other.
WITH old AS (
    SELECT session FROM elier_cart.carts
    WHERE touched_at < now() - make_interval(secs => $1::float8)
    ORDER BY touched_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), free AS MATERIALIZED (
    -- Once per candidate, here: both deletes read this list.
    SELECT session FROM old
    WHERE pg_try_advisory_xact_lock(
        ('x' || encode(substring(session FROM 1 FOR 4), 'hex'))::bit(32)::int4,
        ('x' || encode(substring(session FROM 5 FOR 4), 'hex'))::bit(32)::int4)
), items AS (
    DELETE FROM elier_cart.items i USING free WHERE i.session = free.session
)
DELETE FROM elier_cart.carts c USING free WHERE c.session = free.session;

-- name: ready
-- Whether the migration ran (the API does no DDL).
SELECT to_regclass('elier_cart.items') IS NOT NULL AND to_regclass('elier_cart.carts') IS NOT NULL;

-- name: plans
-- Every cart statement finds its rows through an index (a session's cart,
-- a sku's stock, the idle carts by touched_at); a sequential scan is never
-- the right plan for one, whatever the statistics say. Emptied cart tables
-- (a new install, every cart expired) that ANALYZE has seen empty make the
-- planner prefer a sequential scan, and a prepared statement keeps that
-- plan as the tables grow again until the next autovacuum ANALYZE (a minute
-- or more): measured, an add then scans both tables and 64 clients' adds
-- fall from 11,135 to 1,281 a second (docs/BENCHMARKS.md). Off for the
-- cart's connections only: its pool runs nothing else.
SELECT set_config('enable_seqscan', 'off', false);

-- name: durable
-- Cart commits are acknowledged only once flushed locally and, when the
-- server names synchronous standbys (Patroni's synchronous_mode), once a
-- synchronous standby has them too: a server (or role) default of
-- synchronous_commit = off or local is raised to on for the cart's
-- connections (on is local when no synchronous standby is named);
-- remote_write and remote_apply, which wait for the standby too, are kept.
SELECT set_config('synchronous_commit', 'on', false)
WHERE current_setting('synchronous_commit') IN ('off', 'local');
