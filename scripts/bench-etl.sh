#!/usr/bin/env bash
# bench-etl.sh: the loader against its floor, side by side in one run.
#
# The floor: the same six files' raw lines COPYed into one-text-column tables
# (COPY ... FORMAT text, DELIMITER E'\x01'), the six files in parallel, with
# psql \copy: the cost of moving the bytes into PostgreSQL and nothing else.
# The load: `elier-etl load` of the same files: parse, validate, COPY, build
# the documents, index and swap. Prints a Markdown table; the ratio is what to
# compare across machines.
#
#   BENCH_PRODUCTS (default 1000011)  BENCH_DIR (default .bench/export-N)
set -euo pipefail
cd "$(dirname "$0")/.."
products=${BENCH_PRODUCTS:-1000011}
dir=${BENCH_DIR:-.bench/export-$products}
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-etl sets it)}"
etl=bin/elier-etl
tables=(product features styles skus photos related)

if [ ! -f "$dir/related.csv" ]; then
  echo "generating $products products into $dir" >&2
  $etl generate --products "$products" "$dir" 2>/dev/null
fi
# warm the page cache so both runs read from memory
cat "$dir"/*.csv >/dev/null

now() { date +%s.%N; }

# floor KIND: the six files' raw lines COPYed in parallel into one-text-column
# tables; KIND is "" (plain tables, the floor as the issue defines it) or
# UNLOGGED (no WAL, like the loader's staging tables). Prints seconds.
floor() {
  local ddl="DROP SCHEMA IF EXISTS bench_floor CASCADE; CREATE SCHEMA bench_floor;"
  for t in "${tables[@]}"; do ddl+=" CREATE $1 TABLE bench_floor.$t (line text);"; done
  psql -qX "$DATABASE_URL" -c "$ddl" >/dev/null 2>&1
  local t0 t1
  t0=$(now)
  for t in "${tables[@]}"; do
    psql -qX "$DATABASE_URL" -c "\\copy bench_floor.$t FROM '$dir/$t.csv' (FORMAT text, DELIMITER E'\\x01')" &
  done
  wait
  t1=$(now)
  psql -qX "$DATABASE_URL" -c "DROP SCHEMA bench_floor CASCADE" >/dev/null 2>&1
  psql -qX "$DATABASE_URL" -c "CHECKPOINT" >/dev/null
  awk "BEGIN{print $t1 - $t0}"
}
floor=$(floor "")
floor_unlogged=$(floor UNLOGGED)

rows=$(cat "$dir"/*.csv | wc -l)
bytes=$(cat "$dir"/*.csv | wc -c)
psql -qX "$DATABASE_URL" -c "CHECKPOINT" >/dev/null
t0=$(now)
$etl load --progress none --max-shrink 1 --reject-dir .bench/rejects \
  --summary-json .bench/summary.json "$dir" >/dev/null 2>.bench/load.log
t1=$(now)
load=$(awk "BEGIN{print $t1 - $t0}")
ratio=$(awk "BEGIN{printf \"%.2f\", $load / $floor}")
ratio_unlogged=$(awk "BEGIN{printf \"%.2f\", $load / $floor_unlogged}")
rate=$(awk "BEGIN{printf \"%d\", $rows / $load}")
rss=$(python3 -c "import json;print(json.load(open('.bench/summary.json'))['peak_rss_bytes']//1048576)")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')

echo "| dataset | rows | bytes | floor s (raw COPY) | floor s (UNLOGGED) | elier-etl load s | ratio | ratio (UNLOGGED) | rows/s | peak RSS MiB | machine |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf "| %s products | %s | %s | %.1f | %.1f | %.1f | %s | %s | %s | %d | %s, %s cores, load avg %s |\n" \
  "$products" "$rows" "$bytes" "$floor" "$floor_unlogged" "$load" "$ratio" "$ratio_unlogged" "$rate" "$rss" "$cpu" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
echo
echo "phases (s): $(python3 -c "import json;s=json.load(open('.bench/summary.json'))['seconds'];print(', '.join(f'{k} {v:.1f}' for k,v in s.items()))" 2>/dev/null || true)"
