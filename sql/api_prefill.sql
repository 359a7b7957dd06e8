-- Every served document of the live build, for the API to fill its cache
-- in the background (at start, and after a swap that emptied it): one
-- scan, streamed; each row its build, so that no row of another build is
-- taken for the live one's.
SELECT build_id, id, h_product, h_styles, h_related, product, styles, related
FROM elier.docs
