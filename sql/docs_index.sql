-- Indexes of the served documents, built once after the COPY (sorted input:
-- the documents arrive in id order). Then statistics, so the first queries on
-- the new build are planned well.
ALTER TABLE {{schema}}.docs ADD CONSTRAINT docs_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX docs_ord ON {{schema}}.docs (ord);
ANALYZE {{schema}}.docs;
