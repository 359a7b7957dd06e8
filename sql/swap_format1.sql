-- Run just before swap.sql, in its transaction.
-- A view of the first storage format (with ord) cannot be replaced in
-- place (its columns differ): it is dropped and created again, in this same
-- transaction, so readers still see the old build or the new one.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass('elier.docs') AND attname = 'ord' AND NOT attisdropped) THEN
        DROP VIEW elier.docs;
    END IF;
END
$$;
