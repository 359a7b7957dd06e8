-- The API's cart statements (pkg/cart). Only elier_cart and the view
-- elier.skus are named here: the cart never reads a build schema directly.

-- name: lock
-- Takes the session's cart row lock for the rest of the transaction
-- (ON CONFLICT DO UPDATE locks the row even when its WHERE is false), and
-- records activity at most once per $2 seconds: an add usually costs one
-- row write, not two.
INSERT INTO elier_cart.carts AS c (session) VALUES ($1)
ON CONFLICT (session) DO UPDATE SET touched_at = now()
WHERE c.touched_at < now() - make_interval(secs => $2::float8);

-- name: add
-- One unit of sku $2 into session $1's cart, in one statement, under the
-- stock check: count = count + 1 only while count < the live quantity, a
-- new sku only while the cart holds fewer than $3 skus. Run after lock, in
-- the same transaction: this statement's snapshot then sees every earlier
-- add of the session. Answers the new count (NULL: nothing added), the
-- live quantity (NULL: no such sku) and the cart's distinct skus before.
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
), forgotten AS (
    -- A session whose first add failed leaves no row behind: a client
    -- sending made-up sessions and skus writes nothing that stays.
    DELETE FROM elier_cart.carts
    WHERE session = $1 AND NOT EXISTS (SELECT 1 FROM added) AND (SELECT skus FROM cart) = 0
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
-- first, at most $2. SKIP LOCKED: a cart being added to right now is not
-- idle, and several APIs may sweep at once without waiting on each other.
WITH old AS (
    SELECT session FROM elier_cart.carts
    WHERE touched_at < now() - make_interval(secs => $1::float8)
    ORDER BY touched_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), items AS (
    DELETE FROM elier_cart.items i USING old WHERE i.session = old.session
)
DELETE FROM elier_cart.carts c USING old WHERE c.session = old.session;

-- name: ready
-- Whether the migration ran (the API does no DDL).
SELECT to_regclass('elier_cart.items') IS NOT NULL AND to_regclass('elier_cart.carts') IS NOT NULL;

-- name: durable
-- Cart commits are acknowledged only once flushed locally and, when the
-- server names synchronous standbys (Patroni's synchronous_mode), once a
-- synchronous standby has them too: a server (or role) default of
-- synchronous_commit = off or local is raised to on for the cart's
-- connections (on is local when no synchronous standby is named);
-- remote_write and remote_apply, which wait for the standby too, are kept.
SELECT set_config('synchronous_commit', 'on', false)
WHERE current_setting('synchronous_commit') IN ('off', 'local');
