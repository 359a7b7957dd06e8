-- The six streams the document builder merges by product id, for one range
-- of product ids; {{columns}} is the table's columns as the builder reads
-- them (docColumns in pkg/build). Two variants of each:
--   NAME         sorted by PostgreSQL (any input order);
--   NAME_stored  in the order the loader wrote the rows, which it checked
--                while loading was already grouped by product (the real
--                export is); the builder verifies it again row by row and
--                falls back to the sorted variant if it is not.

-- name: products
SELECT {{columns}}
FROM {{schema}}.products WHERE id BETWEEN $1 AND $2 ORDER BY id;
-- name: features
SELECT {{columns}}
FROM {{schema}}.features WHERE product_id BETWEEN $1 AND $2 ORDER BY product_id, pos;
-- name: styles
SELECT {{columns}}
FROM {{schema}}.styles WHERE product_id BETWEEN $1 AND $2 ORDER BY product_id, id;
-- name: skus
SELECT {{columns}}
FROM {{schema}}.skus WHERE product_id BETWEEN $1 AND $2 ORDER BY product_id, style_id, pos;
-- name: photos
SELECT {{columns}}
FROM {{schema}}.photos WHERE product_id BETWEEN $1 AND $2 ORDER BY product_id, style_id, pos;
-- name: related
SELECT {{columns}}
FROM {{schema}}.related WHERE product_id BETWEEN $1 AND $2 ORDER BY product_id, pos;

-- name: products_stored
SELECT {{columns}}
FROM {{schema}}.products WHERE id BETWEEN $1 AND $2;
-- name: features_stored
SELECT {{columns}}
FROM {{schema}}.features WHERE product_id BETWEEN $1 AND $2;
-- name: styles_stored
SELECT {{columns}}
FROM {{schema}}.styles WHERE product_id BETWEEN $1 AND $2;
-- name: skus_stored
SELECT {{columns}}
FROM {{schema}}.skus WHERE product_id BETWEEN $1 AND $2;
-- name: photos_stored
SELECT {{columns}}
FROM {{schema}}.photos WHERE product_id BETWEEN $1 AND $2;
-- name: related_stored
SELECT {{columns}}
FROM {{schema}}.related WHERE product_id BETWEEN $1 AND $2;

-- name: base
-- The base build $3's versions (id, since) and their hashes for one range,
-- in id order, read from
-- its lineage {{base_schema}} as its view elier.docs does: what the new
-- documents are compared with. {{h_input}} is d.h_input, or NULL for a
-- base of the format before it.
SELECT d.id, d.since, d.h_product, d.h_styles, d.h_related, {{h_input}}
FROM {{base_schema}}.docs d
WHERE d.id BETWEEN $1 AND $2 AND d.since <= $3 AND NOT EXISTS (
    SELECT 1 FROM {{base_schema}}.ends e
    WHERE e.id = d.id AND e.since = d.since AND e.until <= $3)
ORDER BY d.id;
