-- The staging tables have served their purpose once the documents exist.
DROP TABLE {{schema}}.products, {{schema}}.features, {{schema}}.styles,
           {{schema}}.skus, {{schema}}.photos, {{schema}}.related;
