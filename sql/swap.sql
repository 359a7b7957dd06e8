-- Swap build {{build_id}} in: run in one transaction by the loader (and by
-- rollback), after an incremental build's rows are applied in the same
-- transaction (incremental.sql). Readers of elier.docs and elier.skus (the
-- cart's stock check) see the old build or the new one, never a mix; the
-- NOTIFY reaches the API when the transaction commits. {{docs_schema}} holds the build's documents: its own schema for a
-- full build, its lineage's for an incremental one.
-- (The target is parked in 'building' first: on a rollback it is the
-- previous build, and the one-previous index must hold after every statement.)
UPDATE elier.builds SET state = 'retired' WHERE state = 'previous' AND id <> {{build_id}};
UPDATE elier.builds SET state = 'building' WHERE id = {{build_id}};
UPDATE elier.builds SET state = 'previous' WHERE state = 'live' AND id <> {{build_id}};
UPDATE elier.builds SET state = 'live', swapped_at = now() WHERE id = {{build_id}};
CREATE OR REPLACE VIEW elier.docs AS
    SELECT {{build_id}}::bigint AS build_id, id, product, styles, related,
           h_product, h_styles, h_related
    FROM {{docs_schema}}.docs d
    WHERE since <= {{build_id}} AND NOT EXISTS (
        SELECT 1 FROM {{docs_schema}}.ends e
        WHERE e.id = d.id AND e.since = d.since AND e.until <= {{build_id}});
CREATE OR REPLACE VIEW elier.skus AS
    SELECT id, quantity
    FROM {{docs_schema}}.stock s
    WHERE since <= {{build_id}} AND NOT EXISTS (
        SELECT 1 FROM {{docs_schema}}.ends e
        WHERE e.id = s.product_id AND e.since = s.since AND e.until <= {{build_id}});
NOTIFY elier_build, '{{build_id}}';
