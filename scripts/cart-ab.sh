#!/usr/bin/env bash
# cart-ab.sh OLD_API NEW_API: two elier-api binaries' cost per add, one at
# a time over the database DATABASE_URL names (the bench-cart one: `make
# bench-cart` makes it; its skus in .bench/cart-skus-100000.txt), order
# alternating between rounds: PostgreSQL's and the API's CPU and the WAL
# per POST /cart at CART_AB_RATE (2000) req/s open loop, CART_AB_SECONDS (8)
# each, CART_AB_ROUNDS (4) rounds, a CHECKPOINT before each run (so each run
# pays its own full-page images). Prints one line per run; a one-off tool,
# not a section of docs/BENCHMARKS.md. Needs the server on this machine
# (its process tree, for CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
[ $# -eq 2 ] || { echo "usage: $0 OLD_API NEW_API" >&2; exit 2; }
: "${DATABASE_URL:?DATABASE_URL must name the bench-cart database}"
url=$DATABASE_URL old=$1 new=$2
rate=${CART_AB_RATE:-2000} secs=${CART_AB_SECONDS:-8} rounds=${CART_AB_ROUNDS:-4}
skus=${CART_AB_SKUS:-.bench/cart-skus-100000.txt}
addr=127.0.0.1:3320
n=$((rate * secs))
hz=$(getconf CLK_TCK)
go build -o bin/rate ./bench/rate
pgpid=$(server_pid "$url")
lsn() { psql -qXAt "$url" -c "SELECT pg_current_wal_lsn()"; }
for round in $(seq "$rounds"); do
  order="old new"
  [ $((round % 2)) = 0 ] && order="new old"
  for who in $order; do
    bin=$new
    [ "$who" = old ] && bin=$old
    "$bin" --addr "$addr" --database-url "$url" --prefill=false 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do curl -fs "$addr/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    psql -qXAt "$url" -c CHECKPOINT
    a0=$(ticks "$pid") p0=$(ticks "$pgpid") l0=$(lsn)
    r=$(GOMAXPROCS=1 bin/rate -url "http://$addr" -route cart-post -skus "$skus" -sessions 1000000 -rate "$rate" -duration "${secs}s" |
      python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["p50_ms"], m["p99_ms"], m["errors"])')
    a1=$(ticks "$pid") p1=$(ticks "$pgpid") l1=$(lsn)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "round $round $who: p50 p99 errors $r; API $(((a1 - a0) * 1000000 / hz / n)) µs/add, PostgreSQL $(((p1 - p0) * 1000000 / hz / n)) µs/add, WAL $(psql -qXAt "$url" -c "SELECT round(pg_wal_lsn_diff('$l1', '$l0') / $n)") B/add"
  done
done
