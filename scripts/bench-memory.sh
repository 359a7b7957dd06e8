#!/usr/bin/env bash
# bench-memory.sh: the whole catalogue served from the API's memory (issue
# 14), at full scale, in one run. Prints Markdown:
#   - the live catalogue's stored bytes, the cache it needs, how long the
#     prefill took, and elier-api's RSS with the whole catalogue cached;
#   - p50/p99 of each route (wrk -t1 -c32, uniform ids, browsers'
#     Accept-Encoding), with the OS page cache warm, then dropped
#     (sync; echo 1 > /proc/sys/vm/drop_caches) after the API's cache is
#     warm: the API should not care;
#   - p50/p99 of one route in the 10 s after each of BENCH_SWAPS incremental
#     swaps (revision 1 and 0 alternately, 1% changed; the page cache is
#     dropped before each load), routes taken in turn: wrk starts as soon as
#     the API has adopted the new build;
#   - the dropped-page-cache rows again, on the API restarted with --mlock.
# Needs root for drop_caches (skipped, and said so, without it).
#
#   BENCH_PRODUCTS (1000011), BENCH_DURATION (10s), BENCH_SWAPS (4),
#   BENCH_API_ADDR (127.0.0.1:3310)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-memory sets it)}"
n=${BENCH_PRODUCTS:-1000011}
dur=${BENCH_DURATION:-10s}
swaps=${BENCH_SWAPS:-4}
api=${BENCH_API_ADDR:-127.0.0.1:3310}
ae="gzip, deflate, br"
routes=(styles product related list)
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

db=elier_bench_$n
url=$(db_url "$DATABASE_URL" "$db")
psql -qX "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1 || true
dir0=$(export_dir "$n")
generate_export "$n" "$dir0"
dir1=$(export_dir "$n" 1 0.01)
generate_export "$n" "$dir1" 1 "$dir1.changes" 0.01
mkdir -p .bench
"$etl" load --if-changed --max-shrink 1 --progress none "$dir0" --database-url "$url" >/dev/null 2>.bench/memory-load.log ||
  { tail -3 .bench/memory-load.log >&2; exit 1; }

log=.bench/memory-api.log
bin/elier-api --addr "$api" --database-url "$url" 2>"$log" & apipid=$!
trap 'kill $apipid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
wait_http "$api" /readyz
metric() { curl -fs "http://$api/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
t0=$(now)
wait_prefilled "$log" || { echo "bench-memory: no prefill after 300 s" >&2; tail -5 "$log" >&2; exit 1; }
t1=$(now)
wait_packed "$log" || { echo "bench-memory: no list items packed 120 s after the prefill" >&2; tail -5 "$log" >&2; exit 1; }
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$apipid/status"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$apipid/status"; }

drop() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches; echo dropped; else echo "not dropped (not root)"; fi
}
# run ROUTE: "req/s p50 p99 errors" of wrk -t1 -c32 with browsers' coding.
run() { ROUTE=$1 DIST=uniform N=$n wrk -t1 -c32 -d"$dur" --latency -H "Accept-Encoding: $ae" -s bench/wrk/ids.lua "http://$api" | awk -f bench/wrk/summary.awk; }

echo "## The whole catalogue in memory (\`make bench-memory\`, scripts/bench-memory.sh)"
echo
provenance "BENCH_PRODUCTS=$n BENCH_DURATION=$dur BENCH_SWAPS=$swaps make bench-memory" \
  "generated export of $n products (BENCH_SEED=${BENCH_SEED:-1}), revisions 0 and 1 (1% changed), loaded by elier-etl"
echo
prefill=$(grep '"msg":"cache prefilled' "$log" | head -1)
# jfield LINE KEY: KEY of the JSON log line LINE.
jfield() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }
echo "elier-api with its defaults (\`--cache-mb\` $(grep -o '"cache_mb":[0-9]*' "$log" | head -1 | cut -d: -f2), \`--prefill\`):"
echo
echo "| what | value |"
echo "|---|---|"
echo "| products | $(metric elier_catalogue_products) |"
echo "| stored bytes of the served documents (the build's record) | $(metric elier_catalogue_stored_bytes) |"
echo "| cache needed to hold it whole (the API's rule) | $(metric elier_cache_needed_bytes) |"
echo "| cache capacity | $(metric elier_cache_capacity_bytes) |"
echo "| prefill: products, documents, bytes, seconds (the API's log; a product's list item is in its document's pieces) | $(jfield "$prefill" products) products, $(jfield "$prefill" documents) documents, $(jfield "$prefill" bytes) bytes, $(printf %.1f "$(jfield "$prefill" seconds)") s (seen after $(elapsed "$t0" "$t1") s) |"
echo "| cache entries, bytes after the prefill | $(metric elier_cache_entries), $(metric elier_cache_bytes) |"
packed=$(grep '"msg":"list items packed' "$log" | head -1)
echo "| list items packed after the prefill (pkg/api/listitems.go): items, bytes, seconds | $(jfield "$packed" items), $(jfield "$packed" bytes), $(printf %.1f "$(jfield "$packed" seconds)") s |"
echo "| elier-api RSS after the prefill and the packing | $(rss) MiB |"
echo
echo "Closed loop, \`wrk -t1 -c32 -d$dur --latency\`, uniform ids over all $n products, \`Accept-Encoding: $ae\`:"
echo
echo "| route | page cache | req/s | p50 ms | p99 ms | errors | cache misses during the run |"
echo "|---|---|---|---|---|---|---|"
# route_rows STATE: a row of each route, run in turn, with the cache
# misses each run caused.
route_rows() {
  local r m0 m1 rps p50 p99 err
  for r in "${routes[@]}"; do
    m0=$(metric elier_cache_misses_total)
    read -r rps p50 p99 err < <(run "$r")
    m1=$(metric elier_cache_misses_total)
    echo "| $r | $1 | $rps | $p50 | $p99 | $err | $((m1 - m0)) |"
  done
}
route_rows warm
route_rows "$(drop)"
echo
echo "In the $dur after an incremental swap (the page cache dropped before each load; wrk starts when /readyz names the new build). Errors are wrk's non-200 answers: after a swap to revision 1, the 404s of the products it removed (0.05%):"
echo
echo "| swap | export | route | build | adopted after load start s | req/s | p50 ms | p99 ms | errors | cache misses during the run |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for s in $(seq "$swaps"); do
  dir=$dir1
  [ $((s % 2)) = 0 ] && dir=$dir0
  r=${routes[$(((s - 1) % ${#routes[@]}))]}
  before=$(curl -fs "http://$api/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["build_id"])')
  state=$(drop)
  t0=$(now)
  "$etl" load --max-shrink 1 --progress none "$dir" --database-url "$url" >/dev/null 2>.bench/memory-load.log & lpid=$!
  build=$before
  while [ "$build" = "$before" ]; do
    sleep 0.02
    build=$(curl -fs "http://$api/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["build_id"])')
  done
  t1=$(now)
  m0=$(metric elier_cache_misses_total)
  read -r rps p50 p99 err < <(run "$r")
  m1=$(metric elier_cache_misses_total)
  wait "$lpid" || { tail -3 .bench/memory-load.log >&2; exit 1; }
  echo "| $s | $(basename "$dir") | $r | $build | $(elapsed "$t0" "$t1") | $rps | $p50 | $p99 | $err | $((m1 - m0)) |"
done
echo
echo "elier-api peak RSS over the run: $(hwm) MiB."

# The same API with --mlock (its pages locked in RAM as it touches them):
# the page cache dropped again once its cache is warm.
kill "$apipid"
wait "$apipid" 2>/dev/null || true
bin/elier-api --addr "$api" --database-url "$url" --mlock 2>"$log" & apipid=$!
wait_http "$api" /readyz
wait_prefilled "$log" || { echo "bench-memory: no prefill after 300 s (--mlock)" >&2; tail -5 "$log" >&2; exit 1; }
wait_packed "$log" || { echo "bench-memory: no list items packed (--mlock)" >&2; tail -5 "$log" >&2; exit 1; }
for r in "${routes[@]}"; do run "$r" >/dev/null; done # warm, as the rows above were
echo
echo "The same API restarted with \`--mlock\`, prefilled, every route run once to warm it, then the page cache dropped:"
echo
echo "| route | page cache | req/s | p50 ms | p99 ms | errors | cache misses during the run |"
echo "|---|---|---|---|---|---|---|"
route_rows "$(drop), \`--mlock\`"
echo
echo "elier-api with \`--mlock\`: RSS $(rss) MiB, peak $(hwm) MiB, locked $(awk '/VmLck/ {print int($2/1024)}' "/proc/$apipid/status") MiB of address space (pages are locked as they are touched: MCL_ONFAULT)."
