-- The cart's storage, owned here and nowhere else: elier-etl applies this
-- file wherever it applies catalog.sql (load, rollback) and on `elier-etl
-- migrate`; the API never runs DDL. Idempotent. Every statement is additive
-- (IF NOT EXISTS), so a newer file runs over an older schema.
--
-- The cart is written by shoppers, so it lives outside the builds: its own
-- schema, which no load, swap, rollback or debris sweep names (they touch
-- elier and elier_b<N> only). Grants on schema elier_cart cover everything
-- the API writes.
--
-- One transaction-scoped advisory lock: two loaders starting at once would
-- otherwise race on CREATE TABLE IF NOT EXISTS (a unique violation in
-- pg_type). Its key differs from the load lock's (builds.sql).
SELECT pg_advisory_xact_lock(7461082917533);

CREATE SCHEMA IF NOT EXISTS elier_cart;

-- One row a session that ever tried to add: its last activity, for the
-- idle expiry, and the row every add of that session locks first, which
-- serializes one session's adds (the 100-sku limit is then exact).
-- session is sha256 of the session's token (Authorization header or cookie):
-- a leaked table names no usable credential.
CREATE TABLE IF NOT EXISTS elier_cart.carts (
    session    bytea       PRIMARY KEY,
    touched_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS carts_touched_at ON elier_cart.carts (touched_at);

-- One row a sku in a cart. sku_id is not a foreign key: the catalogue is
-- rebuilt under the cart, and a sku that disappears stays in the cart (the
-- shopper decides). seq orders a cart by first addition.
CREATE TABLE IF NOT EXISTS elier_cart.items (
    session bytea   NOT NULL,
    sku_id  integer NOT NULL CHECK (sku_id > 0),
    count   integer NOT NULL CHECK (count > 0),
    seq     bigint  GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (session, sku_id)
);
