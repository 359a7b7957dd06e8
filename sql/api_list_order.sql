-- Build $1's list order, whole: its product ids in position order, 1,000 to
-- a chunk. The API holds it in memory to answer GET /products without a
-- round trip (pkg/api/pieces.go).
SELECT ids FROM elier.list_ids WHERE build_id = $1 ORDER BY chunk
