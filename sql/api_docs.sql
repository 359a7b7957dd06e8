-- Product documents of the live build, a batch at a time: $1 the product
-- ids, $2 which document of each (1 product, 2 styles, 3 related), the
-- bodies of GET /products/:product_id[/styles|/related] as stored, with
-- their hashes (the ETag). Each lookup is an index probe; a batch shares one
-- round trip, one statement and one snapshot, so no answer mixes two builds.
--
-- One row per lookup (i, 1-based) while a build is live: the live build's
-- id, then the document's build, hash and body, NULL for an unknown product.
-- No row at all: no build is live yet.
SELECT q.i, b.id, d.build_id,
       CASE q.k WHEN 1 THEN d.h_product WHEN 2 THEN d.h_styles ELSE d.h_related END,
       CASE q.k WHEN 1 THEN d.product WHEN 2 THEN d.styles ELSE d.related END
FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS q(id, k, i)
JOIN elier.builds b ON b.state = 'live'
LEFT JOIN elier.docs d ON d.id = q.id
