-- The catalogue's database roles, applied by `elier-etl roles` as the
-- database's administrator (a superuser, or a role with CREATEROLE that
-- owns the objects). Idempotent: run it again after a restore, or after a
-- migration created objects as another role. docs/DEPLOY.md, "Roles".
--
--   elier_owner        the loader: owns schema elier, every build schema
--                      and the cart's schema; the only role with DDL.
--   elier_reader       what the API reads of the catalogue and nothing else:
--                      SELECT on schema elier, whose relations are exactly
--                      the served views (elier.docs, elier.skus), the builds
--                      catalogue and the load attempts. No USAGE on the
--                      build schemas (elier_b<N>: staging and documents),
--                      which the views reach with their owner's rights. No
--                      CREATE anywhere, no TEMP.
--   elier_api          the API: elier_reader, plus rows (not DDL) in the
--                      cart's schema elier_cart, the only thing it writes.
--   elier_replication  streaming replication (pg_basebackup, standbys).
--
-- Whatever is created in schema elier or elier_cart later by elier_owner is
-- covered by the default privileges below, so the order of this and of the
-- cart's migration does not matter. Nothing private to the loader may live
-- in schema elier: the reader sees all of it.

-- name: create
-- Roles are cluster-wide and two databases of one cluster may run this at
-- once: a role created meanwhile by the other is not an error.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['elier_owner', 'elier_reader', 'elier_api', 'elier_replication'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
    -- The attributes, written only when they differ: two runs at once would
    -- otherwise update the same pg_authid rows ("tuple concurrently
    -- updated").
    FOREACH r IN ARRAY ARRAY['elier_owner', 'elier_reader', 'elier_api', 'elier_replication'] LOOP
        IF EXISTS (SELECT FROM pg_roles
                   WHERE rolname = r
                     AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls
                          OR rolreplication <> (r = 'elier_replication'))) THEN
            EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS %s',
                           r, CASE WHEN r = 'elier_replication' THEN 'REPLICATION' ELSE 'NOREPLICATION' END);
        END IF;
    END LOOP;
END
$$;

-- name: grants
DO $$
DECLARE
    db text := current_database();
    r record;
BEGIN
    -- The database: only the catalogue's roles connect; only the owner
    -- creates schemas and temporary tables.
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db);
    EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO elier_owner', db);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO elier_reader, elier_api', db);
    -- PostgreSQL 15 no longer lets PUBLIC create in schema public; older
    -- servers did.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    -- The loader compresses the full-page images of its own writes
    -- (wal_compression, a superuser setting, per session): most of an
    -- incremental build's WAL is index pages it touches first.
    GRANT SET ON PARAMETER wal_compression TO elier_owner;

    -- Ownership of what exists already (a database loaded before the roles
    -- were introduced, as a superuser): the loader must be able to swap the
    -- view and drop old builds.
    CREATE SCHEMA IF NOT EXISTS elier AUTHORIZATION elier_owner;
    CREATE SCHEMA IF NOT EXISTS elier_cart AUTHORIZATION elier_owner;
    FOR r IN SELECT nspname FROM pg_namespace
             WHERE nspname IN ('elier', 'elier_cart') OR nspname LIKE 'elier\_b%' LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO elier_owner', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE (n.nspname IN ('elier', 'elier_cart') OR n.nspname LIKE 'elier\_b%')
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               -- sequences of identity and serial columns follow their table
               AND NOT EXISTS (SELECT FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND d.deptype IN ('a', 'i')) LOOP
        EXECUTE format('ALTER %s %s OWNER TO elier_owner',
                       CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                      ELSE 'TABLE' END,
                       r.rel);
    END LOOP;

    -- The reader: schema elier, read-only, now and later.
    GRANT USAGE ON SCHEMA elier TO elier_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA elier TO elier_reader;
    ALTER DEFAULT PRIVILEGES FOR ROLE elier_owner IN SCHEMA elier GRANT SELECT ON TABLES TO elier_reader;

    -- The API: the reader's rights, and the cart's rows.
    GRANT elier_reader TO elier_api;
    GRANT USAGE ON SCHEMA elier_cart TO elier_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA elier_cart TO elier_api;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA elier_cart TO elier_api;
    ALTER DEFAULT PRIVILEGES FOR ROLE elier_owner IN SCHEMA elier_cart
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO elier_api;
    ALTER DEFAULT PRIVILEGES FOR ROLE elier_owner IN SCHEMA elier_cart
        GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO elier_api;
END
$$;

-- name: set_password
-- The statement that sets a role's password to a SCRAM verifier computed by
-- elier-etl: the server and its log never see the password itself.
SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text);
