#!/usr/bin/env bash
# cart-cpu.sh: where the machine goes when carts are written beside the
# catalogue. One elier-api over the database DATABASE_URL names (the
# bench-cart one: `make bench-cart` makes it; its skus in
# .bench/cart-skus-100000.txt), CART_CPU_ROUNDS (2) rounds of: GET
# /products/:id/styles alone (wrk -t2 -c64, 10 s), then the same while
# bin/rate writes carts at CART_CPU_RATE (2000) req/s open loop. Each run
# prints the catalogue's req/s and the cores the API and PostgreSQL used
# (their process trees, /proc), the share of the machine busy, and the
# generator's own CPU per request and its p99. CART_CPU_AE sets the
# catalogue clients' Accept-Encoding (none by default, as bench-cart),
# CART_CPU_API_FLAGS more elier-api flags (e.g. --cart-group-wait 3ms).
# A one-off tool, not a section of docs/BENCHMARKS.md; needs the server
# on this machine (its process tree, for CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must name the bench-cart database}"
url=$DATABASE_URL
rate=${CART_CPU_RATE:-2000} rounds=${CART_CPU_ROUNDS:-2} ae=${CART_CPU_AE:-}
skus=${CART_CPU_SKUS:-.bench/cart-skus-100000.txt}
addr=127.0.0.1:3322
hz=$(getconf CLK_TCK)
go build -o bin/rate ./bench/rate
[ -x bin/elier-api ] || make build >/dev/null
pgpid=$(server_pid "$url")
log=.bench/cart-cpu-api.log
# shellcheck disable=SC2086 # CART_CPU_API_FLAGS is a list of flags
bin/elier-api --addr "$addr" --database-url "$url" ${CART_CPU_API_FLAGS:-} 2>"$log" &
api=$!
trap 'kill $api 2>/dev/null || true; wait 2>/dev/null || true' EXIT
# the whole catalogue in the cache (the prefill done), as in bench-cart's runs
for _ in $(seq 600); do grep -q '"cache prefilled"' "$log" && break; sleep 0.1; done
grep -q '"cache prefilled"' "$log" || { echo "cart-cpu: the API did not prefill its cache (see $log)" >&2; exit 1; }
stat_cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
styles() {
  local h=()
  [ -n "$ae" ] && h=(-H "Accept-Encoding: $ae")
  ROUTE=styles N=100000 wrk -t2 -c64 -d10s "${h[@]}" -s bench/wrk/ids.lua "http://$addr" | awk '/Requests\/sec/ {print $2}'
}
run() { # LABEL WITH_CARTS
  local a0 p0 b0 t0 a1 p1 b1 t1 rps gen="" rp t
  a0=$(ticks "$api"); p0=$(ticks "$pgpid"); read -r b0 t0 < <(stat_cpu)
  t=$(date +%s.%N)
  if [ "$2" = 1 ]; then
    GOMAXPROCS=1 bin/rate -url "http://$addr" -route cart-post -skus "$skus" -sessions 100000 -rate "$rate" -duration 11s >.bench/cart-cpu-rate.json &
    rp=$!
    sleep 0.5
  fi
  rps=$(styles)
  if [ "$2" = 1 ]; then
    wait "$rp"
    gen=$(python3 -c 'import json; m = json.load(open(".bench/cart-cpu-rate.json")); print("generator %s µs/req, POST p99 %s ms, achieved %s/s" % (m["client_cpu_us_per_req"], m["p99_ms"], m["achieved_rate"]))')
  fi
  a1=$(ticks "$api"); p1=$(ticks "$pgpid"); read -r b1 t1 < <(stat_cpu)
  t=$(awk -v t0="$t" -v t1="$(date +%s.%N)" 'BEGIN {print t1 - t0}')
  awk -v l="$1" -v r="$rps" -v a=$((a1 - a0)) -v p=$((p1 - p0)) -v hz="$hz" -v s="$t" -v b=$((b1 - b0)) -v tt=$((t1 - t0)) -v g="$gen" \
    'BEGIN {printf "%s: styles %.0f req/s, API %.2f cores, PostgreSQL %.2f cores, machine %.0f%% busy%s\n", l, r, a / hz / s, p / hz / s, 100 * b / tt, (g != "" ? "; " g : "")}'
}
echo "cart-cpu: $(date -u +%FT%TZ), carts at $rate/s, catalogue Accept-Encoding: ${ae:-none}, API flags: ${CART_CPU_API_FLAGS:-none}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  run "round $round, alone" 0
  run "round $round, with carts" 1
done
