-- Swap build {{build_id}} in: run in one transaction by the loader (and by
-- rollback). Readers of elier.docs and elier.skus see the old build or the
-- new one, never a mix; the NOTIFY reaches the API when the transaction
-- commits.
-- (The target is parked in 'building' first: on a rollback it is the
-- previous build, and the one-previous index must hold after every statement.)
UPDATE elier.builds SET state = 'retired' WHERE state = 'previous' AND id <> {{build_id}};
UPDATE elier.builds SET state = 'building' WHERE id = {{build_id}};
UPDATE elier.builds SET state = 'previous' WHERE state = 'live' AND id <> {{build_id}};
UPDATE elier.builds SET state = 'live', swapped_at = now() WHERE id = {{build_id}};
CREATE OR REPLACE VIEW elier.docs AS
    SELECT {{build_id}}::bigint AS build_id, id, ord, list_item, product, styles, related
    FROM {{schema}}.docs;
CREATE OR REPLACE VIEW elier.skus AS
    SELECT id, quantity FROM {{schema}}.skus;
NOTIFY elier_build, '{{build_id}}';
