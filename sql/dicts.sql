-- The dictionaries product documents are packed with (pkg/stored, storage
-- format 6): one per lineage, learnt by its full build (sql/catalog.sql).
-- name: record_dict
-- Full build $1 records the dictionary of its lineage $2 (its own schema).
INSERT INTO elier.dicts (id, docs_schema, dict) VALUES ($1, $2, $3);
-- name: lineage_dict
-- An incremental build packs with its lineage's dictionary (none: no row).
SELECT id, dict FROM elier.dicts WHERE docs_schema = $1;
-- name: dict
-- A reader meets a document packed with dictionary $1.
SELECT dict FROM elier.dicts WHERE id = $1;
-- name: debris_dicts
-- The dictionaries of lineages whose schema is gone (dropped with a
-- retired or failed build).
DELETE FROM elier.dicts WHERE to_regnamespace(quote_ident(docs_schema)) IS NULL;
-- name: kept_dicts
-- The dictionaries of the live and previous builds' lineages: a reader
-- loads them before it streams a build's documents.
SELECT d.id, d.dict FROM elier.dicts d
WHERE d.docs_schema IN (SELECT coalesce(docs_schema, schema_name) FROM elier.builds
                        WHERE state IN ('live', 'previous'));
