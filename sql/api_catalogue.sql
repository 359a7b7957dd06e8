-- Build $1's size as its load recorded it: the stored bytes of its served
-- documents (product, styles, related) and its number of products. NULL
-- bytes: a build of a format before 4, which did not record them.
SELECT (counts->>'stored_bytes')::bigint, coalesce((counts->>'documents')::bigint, 0)
FROM elier.builds WHERE id = $1
