-- Run just before swap.sql, in its transaction, with the same
-- {{docs_schema}}. CREATE OR REPLACE VIEW cannot change a view's columns,
-- so the view elier.docs is dropped and created again, in this same
-- transaction (readers still see the old build or the new one), when its
-- columns are not those of the build swapped in:
--   - a view of the first storage format (with ord);
--   - a view with list_item (formats up to 4 stored each product's list
--     item; from format 5 readers derive it from the product document, and
--     the view has no list_item whatever the build's format);
--   - documents of another type: text up to format 3, bytea (the stored,
--     coded form) from format 4; on the first load of format 4, and on a
--     rollback across it.
-- The recreated view gets the reader's grant from the default privileges
-- (sql/roles.sql); a reader's prepared statement is planned again (the API
-- retries the one lookup that meets the change).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass('elier.docs') AND attname IN ('ord', 'list_item') AND NOT attisdropped)
       OR (SELECT atttypid FROM pg_attribute
           WHERE attrelid = to_regclass('elier.docs') AND attname = 'product' AND NOT attisdropped)
          IS DISTINCT FROM
          (SELECT atttypid FROM pg_attribute
           WHERE attrelid = to_regclass('{{docs_schema}}.docs') AND attname = 'product' AND NOT attisdropped) THEN
        DROP VIEW IF EXISTS elier.docs;
    END IF;
END
$$;
