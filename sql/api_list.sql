-- One page of GET /products: the list items at positions $1..$2 of the live
-- build, in position order. ord is dense and indexed, so a deep page costs
-- what page 1 costs (no OFFSET). While a build is live at least one row comes
-- back: past the end it is the live build's id with a NULL item. No row at
-- all: no build is live yet.
SELECT b.id, d.build_id, d.list_item
FROM elier.builds b
LEFT JOIN LATERAL (
    SELECT build_id, ord, list_item
    FROM elier.docs
    WHERE ord BETWEEN $1::bigint AND $2::bigint
) d ON true
WHERE b.state = 'live'
ORDER BY d.ord
