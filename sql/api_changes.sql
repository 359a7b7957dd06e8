-- What two builds ($1, $2) say of each other: id, base and changed product
-- ids. When one is the other's base, the products whose documents differ
-- between them are exactly the later one's changed ids (a rollback crosses
-- the same difference backwards), so the API drops only those from its cache.
SELECT id, base_id, changed FROM elier.builds WHERE id IN ($1, $2)
