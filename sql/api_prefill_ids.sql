-- The served documents of the products $1 of the live build: what the API
-- fills its cache with after a swap that dropped just those (the products
-- the new build changed, added or removed); index probes.
SELECT build_id, id, h_product, h_styles, h_related, product, styles, related
FROM elier.docs
WHERE id = ANY($1::int[])
