#!/usr/bin/env bash
# bench-ab.sh OLD_API NEW_API: two elier-api binaries side by side, in one
# run, on the same database: wrk against each alternately, ROUNDS rounds
# (3), after a short warm-up of each; prints each round and the medians.
# For a change that must not cost throughput (docs/DEPLOY.md, "Metrics").
#
#   DATABASE_URL=... scripts/bench-ab.sh /tmp/elier-api-old bin/elier-api
#
# Knobs: ROUNDS (3), DURATION (10s), CONNS (64), THREADS (2), PATH_UNDER_TEST
# (/products/1/styles), PORTS ("56110 56111": 127.0.0.1). The database must
# hold a build (elier-etl load).
#
# With ROUTE (list, product, styles or related), each request is drawn by
# bench/wrk/ids.lua instead (DIST uniform or skewed, N products: the whole
# catalogue, not one cached entry), both APIs first finish their prefill,
# and ACCEPT_ENCODING (a browser's by default) is sent; the rounds then
# alternate which API goes first. SETTLE (0) seconds more are given to both
# after their prefills, for what a binary does after it.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_API NEW_API" >&2; exit 2; }
: "${DATABASE_URL:?DATABASE_URL must name a database with a live build}"
command -v wrk >/dev/null || { echo "bench-ab.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/products/1/styles}
read -r port_a port_b <<<"${PORTS:-56110 56111}"
logs=$(mktemp -d)
"$1" --addr "127.0.0.1:$port_a" 2>"$logs/old.log" & pid_a=$!
"$2" --addr "127.0.0.1:$port_b" 2>"$logs/new.log" & pid_b=$!
trap 'kill $pid_a $pid_b 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$logs"' EXIT
ae=${ACCEPT_ENCODING-gzip, deflate, br}
hdr=()
[ -n "${ROUTE:-}" ] && [ -n "$ae" ] && hdr=(-H "Accept-Encoding: $ae")
if [ -n "${ROUTE:-}" ]; then
  export ROUTE DIST=${DIST:-uniform} N=${N:-1000011}
  for l in "$logs/old.log" "$logs/new.log"; do
    for _ in $(seq 1200); do grep -q 'cache prefilled' "$l" && break; sleep 0.5; done
  done
  sleep "${SETTLE:-0}" # what a binary does after its prefill (SETTLE seconds)
fi
# wrk_rps PORT: one run's requests per second.
wrk_rps() {
  if [ -n "${ROUTE:-}" ]; then
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "${hdr[@]}" -s "$(dirname "$0")/../bench/wrk/ids.lua" "http://127.0.0.1:$1" | awk '/Requests\/sec/{print $2}'
  else
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$1$PATH_UNDER_TEST" | awk '/Requests\/sec/{print $2}'
  fi
}
for p in "$port_a" "$port_b"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$p/readyz" && break; sleep 0.1; done
  DURATION=2s wrk_rps "$p" >/dev/null
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
old=() new=()
echo "date $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${ROUTE:-}" ]; then
  echo "wrk -t$THREADS -c$CONNS -d$DURATION, ROUTE=$ROUTE DIST=$DIST N=$N (bench/wrk/ids.lua), Accept-Encoding '${ae}', after both prefills; first in odd rounds: old"
else
  echo "wrk -t$THREADS -c$CONNS -d$DURATION http://127.0.0.1:PORT$PATH_UNDER_TEST, old and new alternately"
fi
for r in $(seq "$ROUNDS"); do
  if [ -n "${ROUTE:-}" ] && [ $((r % 2)) = 0 ]; then
    b=$(wrk_rps "$port_b") a=$(wrk_rps "$port_a")
  else
    a=$(wrk_rps "$port_a") b=$(wrk_rps "$port_b")
  fi
  old+=("$a") new+=("$b")
  printf 'round %d  old %10.0f req/s  new %10.0f req/s  new/old %.3f\n' "$r" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
mo=$(printf '%s\n' "${old[@]}" | median) mn=$(printf '%s\n' "${new[@]}" | median)
printf 'median   old %10.0f req/s  new %10.0f req/s  new/old %.3f\n' "$mo" "$mn" "$(echo "$mn / $mo" | bc -l)"
