#!/usr/bin/env bash
# seed.sh URL [N]: makes the database at URL a catalogue of N (default
# 1000000) synthetic products for load tests, built from the atelier-sample
# documents of ../build1.json (styles bodies of about 2.6 KB), live as
# build 1. The database must exist; its catalogue is replaced.
#
#   createdb elier_bench
#   pkg/api/testdata/wrk/seed.sh postgres://elier@127.0.0.1:54329/elier_bench?sslmode=disable
#   elier-api --database-url ... &
#   wrk -t2 -c64 -d10s -s pkg/api/testdata/wrk/styles_skewed.lua http://127.0.0.1:3000
set -euo pipefail
url=$1
n=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
docs=$here/../build1.json
tl=$(jq -c '.[0].list_item' "$docs")
tp=$(jq -c '.[0].product' "$docs")
ts=$(jq -c '.[0].styles | .results = [.results[0]] + .results[2:5]' "$docs")
psql -q -v ON_ERROR_STOP=1 -v tl="$tl" -v tp="$tp" -v ts="$ts" -v n="$n" "$url" <<SQL
\i $here/../../../../sql/catalog.sql
DROP VIEW elier.docs;
CREATE VIEW elier.docs AS
    SELECT 0::bigint AS build_id, 0::integer AS id, 0::integer AS ord,
           ''::text AS list_item, ''::text AS product, ''::text AS styles, ''::text AS related
    WHERE false;
DELETE FROM elier.builds;
DROP SCHEMA IF EXISTS elier_b1 CASCADE;
CREATE SCHEMA elier_b1;
CREATE TABLE elier_b1.docs (id int PRIMARY KEY, ord int UNIQUE, list_item text, product text, styles text, related text);
INSERT INTO elier_b1.docs
SELECT g, g,
       replace(:'tl', '{"id":1,', '{"id":' || g || ','),
       replace(:'tp', '{"id":1,', '{"id":' || g || ','),
       replace(:'ts', '{"product_id":"1",', '{"product_id":"' || g || '",'),
       '[' || (g % :n) + 1 || ',' || (g * 7 % :n) + 1 || ']'
FROM generate_series(1, :n) g;
VACUUM ANALYZE elier_b1.docs;
BEGIN;
INSERT INTO elier.builds (id, schema_name, state) VALUES (1, 'elier_b1', 'live');
CREATE OR REPLACE VIEW elier.docs AS
    SELECT 1::bigint AS build_id, id, ord, list_item, product, styles, related FROM elier_b1.docs;
NOTIFY elier_build, '1';
COMMIT;
SQL
