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
for p in "$port_a" "$port_b"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$p/readyz" && break; sleep 0.1; done
  wrk -t"$THREADS" -c"$CONNS" -d2s "http://127.0.0.1:$p$PATH_UNDER_TEST" >/dev/null
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
old=() new=()
echo "date $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION http://127.0.0.1:PORT$PATH_UNDER_TEST, old and new alternately"
for r in $(seq "$ROUNDS"); do
  a=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port_a$PATH_UNDER_TEST" | awk '/Requests\/sec/{print $2}')
  b=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port_b$PATH_UNDER_TEST" | awk '/Requests\/sec/{print $2}')
  old+=("$a") new+=("$b")
  printf 'round %d  old %10.0f req/s  new %10.0f req/s  new/old %.3f\n' "$r" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
mo=$(printf '%s\n' "${old[@]}" | median) mn=$(printf '%s\n' "${new[@]}" | median)
printf 'median   old %10.0f req/s  new %10.0f req/s  new/old %.3f\n' "$mo" "$mn" "$(echo "$mn / $mo" | bc -l)"
