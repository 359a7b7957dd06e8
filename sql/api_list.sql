-- One page of GET /products: the product documents (stored form) at
-- positions $1..$2 of the live build, in position order; the reader makes
-- each its list item (readmodel.ListItem). The positions come from elier.list_ids ($3 ids a
-- chunk): one or two chunk rows, then an index probe per item, so a deep
-- page costs what page 1 costs (no OFFSET). While a build is live at least
-- one row comes back: past the end it is the live build's id with a NULL
-- document. No row at all: no build is live yet.
SELECT b.id, d.build_id, d.product
FROM elier.builds b
LEFT JOIN LATERAL (
    SELECT l.chunk::bigint * $3::bigint + u.k AS pos, u.id
    FROM elier.list_ids l
    CROSS JOIN LATERAL unnest(l.ids) WITH ORDINALITY AS u(id, k)
    WHERE l.build_id = b.id
      AND l.chunk BETWEEN ($1::bigint - 1) / $3::bigint AND ($2::bigint - 1) / $3::bigint
      AND l.chunk::bigint * $3::bigint + u.k BETWEEN $1::bigint AND $2::bigint
) p ON true
LEFT JOIN elier.docs d ON d.id = p.id
WHERE b.state = 'live'
ORDER BY p.pos
