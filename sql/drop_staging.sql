-- The staging tables have served their purpose once the documents exist.
-- The skus' stock outlives them in a logged table of the build (the cart's
-- check reads it through elier.skus, on the primary and on standbys), so
-- it is copied out first and takes the staging table's name.
CREATE TABLE {{schema}}.sku_stock (id integer PRIMARY KEY, quantity integer NOT NULL);
INSERT INTO {{schema}}.sku_stock (id, quantity) SELECT id, quantity FROM {{schema}}.skus;
DROP TABLE {{schema}}.products, {{schema}}.features, {{schema}}.styles,
           {{schema}}.skus, {{schema}}.photos, {{schema}}.related;
ALTER TABLE {{schema}}.sku_stock RENAME TO skus;
