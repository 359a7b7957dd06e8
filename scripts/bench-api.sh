#!/usr/bin/env bash
# bench-api.sh: elier-api against a bare fasthttp server (the ceiling), side
# by side in one run, over read models built by the real loader.
#
# For each size in BENCH_API_SIZES (default "100000 1000011"): a database
# elier_bench_<N> is loaded (once; --if-changed) from a generated export,
# elier-api serves it on 127.0.0.1:3300, and wrk (64 connections, closed
# loop) measures each route with uniform and skewed (P(id) ~ 1/id) ids,
# after a warm-up run of the same traffic (the cache's steady state). Each
# measurement is BENCH_ROUNDS rounds of (ceiling, API) back to back: a
# round's ratio compares two runs seconds apart, and the table gives the
# median round, so a burst of other load moves one round, not the result.
#
# At the largest size, bench/rate measures p50/p99/p99.9 at fixed rates
# (open loop): with its fasthttp engine at every rate, and with vegeta at
# the rates vegeta can send here (BENCH_VEGETA_RATES), as a cross-check.
# Then an overload run (wrk, 1024 connections) and the API's peak RSS.
# Prints Markdown.
#
#   BENCH_DURATION (default 10s), BENCH_ROUNDS (default 3),
#   BENCH_RATES (default "5000 20000"), BENCH_VEGETA_RATES (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-api sets it)}"
sizes=${BENCH_API_SIZES:-"100000 1000011"}
dur=${BENCH_DURATION:-10s}
rates=${BENCH_RATES:-"5000 20000"}
vegeta_rates=${BENCH_VEGETA_RATES:-5000}
rounds=${BENCH_ROUNDS:-3}
api=127.0.0.1:3300
ceil=127.0.0.1:3301
mkdir -p .bench bin

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
go build -o bin/ceiling ./bench/ceiling
go build -o bin/rate ./bench/rate

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_http() { for _ in $(seq 200); do curl -fs "http://$1$2" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1$2" >&2; return 1; }

# run_wrk URL ROUTE DIST N [CONNS]: prints "req/s p50_ms p99_ms errors"
run_wrk() {
  local out
  out=$(ROUTE=$2 DIST=$3 N=$4 wrk -t2 -c"${5:-64}" -d"$dur" --latency -s bench/wrk/ids.lua "$1")
  echo "$out" | awk -f bench/wrk/summary.awk
}

bin/ceiling -addr "$ceil" & pids+=($!)
wait_http "$ceil" /

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "Machine: $machine. wrk -t2 -c64 -d$dur --latency on loopback; the load generator shares the machine."
echo
for n in $sizes; do
  db=elier_bench_$n
  url=$(echo "$DATABASE_URL" | sed -E "s#/[^/?]*(\\?|\$)#/$db\\1#")
  psql -qX "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1 || true
  dir=.bench/export-$n
  [ -f "$dir/related.csv" ] || bin/elier-etl generate --products "$n" "$dir" 2>/dev/null
  DATABASE_URL=$url bin/elier-etl load --if-changed --max-shrink 1 --progress none --reject-dir ".bench/rejects-$n" "$dir" >/dev/null 2>&1

  bin/elier-api --addr "$api" --database-url "$url" 2>.bench/api-$n.log & apipid=$!; pids+=($apipid)
  wait_http "$api" /readyz

  echo "### $n products"
  echo
  echo "Median of $rounds rounds; each round runs the ceiling, then the API, $dur each. Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| route | ids | req/s | × ceiling (median round) | rounds' ratios | ceiling req/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for route in styles product related list; do
    for d in uniform skewed; do
      run_wrk "http://$api" "$route" "$d" "$n" >/dev/null # warm-up: measure the steady state
      rs=()
      for _ in $(seq "$rounds"); do
        read -r c _ _ _ < <(run_wrk "http://$ceil" styles uniform "$n")
        read -r rps p50 p99 err < <(run_wrk "http://$api" "$route" "$d" "$n")
        rs+=("$(awk "BEGIN{printf \"%.3f\", $rps / $c}") $rps $c $p50 $p99 $err")
      done
      # the median round by ratio; errors summed over all rounds
      errs=$(printf '%s\n' "${rs[@]}" | awk '{e += $6} END {print e}')
      ratios=$(printf '%s\n' "${rs[@]}" | awk '{printf "%s%.2f", (NR>1 ? " " : ""), $1}')
      read -r ratio rps c p50 p99 _ < <(printf '%s\n' "${rs[@]}" | sort -n | awk -v m=$(( (rounds + 1) / 2 )) 'NR==m')
      printf "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n" "$route" "$d" "$rps" "$ratio" "$ratios" "$c" "$p50" "$p99" "$errs"
    done
  done
  echo

  if [ "$n" = "${sizes##* }" ]; then
    echo "Fixed rates (bench/rate, open loop, $dur each, latency counted from each request's due time), /products/:id/styles; the median of $rounds rounds by p99, with every round's p99:"
    echo
    echo "| client | rate req/s | ids | achieved req/s | sent | errors (all rounds) | p50 ms | p99 ms | rounds' p99 ms | p99.9 ms | max ms | client CPU µs/req |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for r in $rates; do
      clients=fasthttp
      case " $vegeta_rates " in *" $r "*) clients="fasthttp vegeta" ;; esac
      for cl in $clients; do
        for d in uniform skewed; do
          for _ in $(seq "$rounds"); do
            bin/rate -client "$cl" -url "http://$api" -route styles -dist "$d" -n "$n" -rate "$r" -duration "$dur"
          done | python3 -c '
import json, sys
ms = [json.loads(l) for l in sys.stdin if l.strip()]
p99s = " ".join(str(m["p99_ms"]) for m in ms)
errs = sum(m["errors"] for m in ms)
m = sorted(ms, key=lambda m: m["p99_ms"])[len(ms) // 2]
print("| %s | %s | %s | %d | %s | %d | %s | %s | %s | %s | %s | %s |" % (m["client"], m["rate"], m["dist"], m["achieved_rate"], m["requests"], errs, m["p50_ms"], m["p99_ms"], p99s, m["p999_ms"], m["max_ms"], m["client_cpu_us_per_req"]))'
        done
      done
    done
    echo
    rss=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$apipid/status)
    echo "elier-api peak RSS before the overload run: $rss MiB."
    echo
    read -r orps op50 op99 oerr < <(run_wrk "http://$api" styles uniform "$n" 1024)
    echo "Overload: wrk -c1024, uniform /styles: $orps req/s, p50 $op50 ms, p99 $op99 ms, errors $oerr."
    echo
  fi
  rss=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$apipid/status)
  echo "elier-api peak RSS at $n products: $rss MiB (cache budget $(grep -o '"cache_mb":[0-9]*' .bench/api-$n.log | head -1 | cut -d: -f2) MiB)."
  echo
  kill $apipid; wait $apipid 2>/dev/null || true
done
