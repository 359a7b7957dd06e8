#!/usr/bin/env bash
# bench-cart.sh: the cart's targets (issue 13), side by side with the
# catalogue's /products/:id/styles in one run, against one elier-api over a
# read model built by the real loader. Prints a Markdown section.
#
#   1. GET /products/:id/styles alone: wrk, closed loop (the baseline).
#   2. POST /cart: wrk, closed loop (bench/wrk/cart.lua), random sessions
#      (Authorization bench-<n>), random in-stock skus: durable commits.
#   3. POST /cart: bench/rate, open loop at BENCH_CART_RATE (2,000) req/s.
#   4. GET /cart: wrk, closed loop, over the sessions step 2 filled.
#   5. /styles again, while bench/rate writes carts at BENCH_CART_RATE req/s,
#      in BENCH_CART_ROUNDS (3) rounds, each its own /styles-alone run just
#      before: the ratio of each round, the median round's in bold (this
#      machine's speed drifts by a fifth within minutes, more than one
#      alone-then-mixed pair can hide). Each round does the same on a
#      second API started with BENCH_API2_FLAGS (--cart-group-wait 0: the
#      API's own gathering of adds off; the first API runs the defaults,
#      which gather under CPU pressure), interleaved with the first.
#   6. Steps 2 and 3 again with commit_delay = BENCH_COMMIT_DELAY µs
#      (group commit), reset afterwards.
#   7. Step 3 on the second API (BENCH_API2_FLAGS).
#
# Each POST step also reports what limited it: the CPU the API and
# PostgreSQL used per request and in all (of the machine's cores), and
# commits per WAL flush (pg_stat_wal.wal_sync against xact_commit), and the
# adds per commit of the API's group commit (pkg/cart, from /metrics). Needs a
# superuser DATABASE_URL on this machine (ALTER SYSTEM for commit_delay; the
# server's process tree for CPU): `make bench-cart` gives the private one.
#
#   BENCH_CART_PRODUCTS (default 100000), BENCH_DURATION (default 10s),
#   BENCH_CART_RATE (2000), BENCH_COMMIT_DELAY (1000), BENCH_API2_FLAGS
#   (--cart-group-wait 0), BENCH_CART_ROUNDS (3), BENCH_CART_ADDR (the second API: its port + 1)
#   (127.0.0.1:3310), BENCH_CONNS (64), BENCH_SESSIONS (100000)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-cart sets it)}"
n=${BENCH_CART_PRODUCTS:-100000}
dur=${BENCH_DURATION:-10s}
rate=${BENCH_CART_RATE:-2000}
delay=${BENCH_COMMIT_DELAY:-1000}
api2_flags=${BENCH_API2_FLAGS:---cart-group-wait 0}
rounds=${BENCH_CART_ROUNDS:-3}
api=${BENCH_CART_ADDR:-127.0.0.1:3310}
conns=${BENCH_CONNS:-64}
sessions=${BENCH_SESSIONS:-100000}
secs=${dur%s}
mkdir -p .bench bin

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v psql >/dev/null || { echo "bench-cart: psql is needed" >&2; exit 1; }
go build -o bin/rate ./bench/rate
[ -x bin/elier-api ] && [ -x bin/elier-etl ] || make build >/dev/null

db=elier_bench_cart_$n
url=$(db_url "$DATABASE_URL" "$db")
psql -qX "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1 || true
dir=.bench/export-$n
[ -f "$dir/related.csv" ] || bin/elier-etl generate --products "$n" "$dir" 2>/dev/null
# load applies sql/cart.sql; a run starts with empty carts
DATABASE_URL=$url bin/elier-etl load --if-changed --max-shrink 1 --progress none --reject-dir ".bench/rejects-$n" "$dir" >/dev/null 2>&1
DATABASE_URL=$url bin/elier-etl migrate >/dev/null
psql -qX "$url" -c "TRUNCATE elier_cart.items, elier_cart.carts" >/dev/null
skus=.bench/cart-skus-$n.txt
psql -qXAt "$url" -c "SELECT id FROM elier.skus WHERE quantity > 0" >"$skus"

pids=()
cleanup() {
  psql -qX "$DATABASE_URL" -c "ALTER SYSTEM RESET commit_delay" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

bin/elier-api --addr "$api" --database-url "$url" 2>.bench/api-cart.log & apipid=$!
pids+=($apipid)
# The second API, gathering adds (steps 5 and 7); idle otherwise.
api2=${api%:*}:$((${api##*:} + 1))
# shellcheck disable=SC2086 # a list of flags
bin/elier-api --addr "$api2" --database-url "$url" $api2_flags 2>.bench/api-cart2.log & api2pid=$!
pids+=($api2pid)
for a in "$api" "$api2"; do
  for _ in $(seq 200); do curl -fs "http://$a/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://$a/readyz" >/dev/null || { echo "bench-cart: elier-api at $a is not ready" >&2; exit 1; }
done

# The server's process tree, for its CPU time (ticks, bench-lib.sh).
pgpid=$(server_pid "$DATABASE_URL")
wal() { # commits and WAL syncs so far
  psql -qXAt "$url" -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), (SELECT wal_sync FROM pg_stat_wal)" | tr '|' ' '
}

# run_wrk URL SCRIPT [ENV...]: prints "req/s p50_ms p99_ms errors"
run_wrk() {
  local u=$1 script=$2 out
  shift 2
  out=$(env "$@" wrk -t2 -c"$conns" -d"$dur" --latency -s "$script" "$u")
  echo "$out" | awk -f bench/wrk/summary.awk
}

# measured CMD...: runs CMD and appends to its output line
# "api_us/req pg_us/req cpu_pct commits_per_sync" (per the requests CMD
# reports first on its line).
measured() {
  local a0 p0 w0 a1 p1 w1 line reqs hz
  hz=$(getconf CLK_TCK)
  a0=$(ticks "$apipid"); p0=$(ticks "$pgpid"); w0=$(wal)
  line=$("$@")
  a1=$(ticks "$apipid"); p1=$(ticks "$pgpid"); w1=$(wal)
  reqs=$(echo "$line" | awk -v s="$secs" '{print $1 * s}')
  echo "$line $(awk -v a=$((a1 - a0)) -v p=$((p1 - p0)) -v hz="$hz" -v r="$reqs" -v s="$secs" -v cores="$(nproc)" \
    -v c0="${w0% *}" -v s0="${w0#* }" -v c1="${w1% *}" -v s1="${w1#* }" 'BEGIN {
      r = (r > 0 ? r : 1); syncs = s1 - s0
      printf "%.0f %.0f %.0f %.1f", a / hz * 1e6 / r, p / hz * 1e6 / r, (a + p) / hz / s / cores * 100, (syncs > 0 ? (c1 - c0) / syncs : 0)
    }')"
}

# group: "commits adds" of the API's group commits so far (/metrics)
group() {
  curl -fs "http://$api/metrics" | awk '$1 == "elier_cart_commits_total" {c = $2} $1 == "elier_cart_committed_adds_total" {a = $2} END {print c + 0, a + 0}'
}
# reads: "batches reads" of the API's batched cart reads so far (/metrics)
reads() {
  curl -fs "http://$api/metrics" | awk '$1 == "elier_cart_read_batches_total" {c = $2} $1 == "elier_cart_reads_total" {a = $2} END {print c + 0, a + 0}'
}
# per_commit "C0 A0" "C1 A1": adds per commit (or reads per batch) between the two
per_commit() {
  awk -v x="$1" -v y="$2" 'BEGIN {split(x, p, " "); split(y, q, " "); c = q[1] - p[1]; printf "%.1f", (c > 0 ? (q[2] - p[2]) / c : 0)}'
}

# open-loop POSTs: "achieved_req/s p50 p99 p99.9 errors sent". One P is
# plenty for the generator at these rates, and a second one costs it about
# a quarter more CPU per request in idle-P wakeups (measured), CPU that the
# server would lose to it; its latencies still count its own delays against
# the server, never for it.
run_rate_post() {
  GOMAXPROCS=1 bin/rate -url "http://$api" -route cart-post -skus "$skus" -sessions "$sessions" -rate "$rate" -duration "$dur" \
    | python3 -c 'import json,sys; m=json.loads(sys.stdin.read()); print(m["achieved_rate"], m["p50_ms"], m["p99_ms"], m["p999_ms"], m["errors"], m["requests"])'
}

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
pgver=$(psql -qXAt "$url" -c "SHOW server_version")
echo "### The cart, side by side with /products/:id/styles"
echo
echo "$(date -u +%FT%TZ); $machine; PostgreSQL $pgver, fsync on, the server's synchronous_commit $(psql -qXAt "$url" -c "SHOW synchronous_commit") (the cart's sessions raise off to local: every 201 waited for its WAL flush); data: $n products ($(wc -l <"$skus") in-stock skus), $sessions sessions drawn at random. Load average before: $(cut -d' ' -f1-3 /proc/loadavg). The load generator shares the machine."
echo
echo "Commands: \`BENCH_CART_PRODUCTS=$n BENCH_DURATION=$dur scripts/bench-cart.sh\`; closed loop \`wrk -t2 -c$conns -d$dur --latency -s bench/wrk/ids.lua\` (ROUTE=styles) or \`-s bench/wrk/cart.lua\` (CART=post|get); open loop \`bin/rate -route cart-post -rate $rate -duration $dur\`."
echo
echo "| what | req/s | p50 ms | p99 ms | errors | API CPU µs/req | PostgreSQL CPU µs/req | CPU used (of all cores) | commits per WAL flush |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # LABEL "rps p50 p99 err api pg cpu cps"
  read -r r p50 p99 e a pg cpu cps <<<"$2"
  printf "| %s | %s | %s | %s | %s | %s | %s | %s%% | %s |\n" "$1" "$r" "$p50" "$p99" "$e" "$a" "$pg" "$cpu" "$cps"
}

run_wrk "http://$api" bench/wrk/ids.lua ROUTE=styles N="$n" >/dev/null # warm the API's cache
read -r base_rps rest < <(measured run_wrk "http://$api" bench/wrk/ids.lua ROUTE=styles N="$n")
row "GET /products/:id/styles alone (wrk)" "$base_rps ${rest% *} –"
g0=$(group)
line=$(measured run_wrk "http://$api" bench/wrk/cart.lua CART=post SKUS="$skus" SESSIONS="$sessions")
row "POST /cart (wrk, closed loop; $(per_commit "$g0" "$(group)") adds per commit)" "$line"
g0=$(group)
read -r ach p50 p99 p999 err sent a pg cpu cps < <(measured run_rate_post)
echo "| POST /cart at $rate req/s (open loop; achieved $ach, p99.9 $p999 ms; $(per_commit "$g0" "$(group)") adds per commit) | $ach | $p50 | $p99 | $err | $a | $pg | $cpu% | $cps |"
r0=$(reads)
read -r line < <(measured run_wrk "http://$api" bench/wrk/cart.lua CART=get SESSIONS="$sessions")
row "GET /cart (wrk, closed loop; $(per_commit "$r0" "$(reads)") reads per statement)" "${line% *} –" # reads flush nothing

# mixed: "alone_rps mixed_rps p50 p99 errors achieved post_p50 post_p99
# post_errors adds_per_commit" of one round on $api: /styles alone, then
# /styles while carts are written at $rate req/s.
mixed() {
  local g0 bg alone mixed_rps mp50 mp99 merr bach bp50 bp99 berr
  read -r alone _ < <(run_wrk "http://$api" bench/wrk/ids.lua ROUTE=styles N="$n")
  g0=$(group)
  run_rate_post >.bench/cart-bg.txt &
  bg=$!
  sleep 0.5
  read -r mixed_rps mp50 mp99 merr < <(run_wrk "http://$api" bench/wrk/ids.lua ROUTE=styles N="$n")
  wait "$bg"
  read -r bach bp50 bp99 _ berr _ <.bench/cart-bg.txt
  echo "$alone $mixed_rps $mp50 $mp99 $merr $bach $bp50 $bp99 $berr $(per_commit "$g0" "$(group)")"
}
# mixed_row LABEL FILE: the median round of FILE's rounds (lines of mixed).
mixed_row() {
  local all med alone mixed_rps mp50 mp99 merr bach bp50 bp99 berr bgroup ratio behind
  all=$(awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $2 / $1}' "$2")
  med=$(awk '{print $2 / $1, NR}' "$2" | sort -g | awk '{l[NR] = $2} END {print l[int((NR + 1) / 2)]}')
  read -r alone mixed_rps mp50 mp99 merr bach bp50 bp99 berr bgroup < <(sed -n "${med}p" "$2")
  ratio=$(awk -v a="$mixed_rps" -v b="$alone" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  # The ratio means what the target means only if the writes kept up.
  behind=$(awk -v a="$bach" -v r="$rate" 'BEGIN {if (a < 0.95 * r) print "; the writes fell behind their rate, so this ratio overstates the target"}')
  echo "| GET /products/:id/styles while POST /cart runs at $rate req/s$1, median of $rounds rounds (its alone run: $alone req/s; every round's ratio: $all; the median round's POSTs: achieved $bach, p50 $bp50 ms, p99 $bp99 ms, errors $berr, $bgroup adds per commit$behind) | $mixed_rps (**${ratio}×** alone) | $mp50 | $mp99 | $merr | | | | |"
}
: >.bench/cart-mixed.txt
: >.bench/cart-mixed2.txt
run_wrk "http://$api2" bench/wrk/ids.lua ROUTE=styles N="$n" >/dev/null # warm the second API's cache
for _ in $(seq "$rounds"); do
  mixed >>.bench/cart-mixed.txt
  api=$api2 mixed >>.bench/cart-mixed2.txt
done
mixed_row "" .bench/cart-mixed.txt
mixed_row ", $api2_flags" .bench/cart-mixed2.txt

# Group commit: commit_delay makes a committing backend wait (when
# commit_siblings others are in a transaction) so that one WAL flush
# covers more commits.
psql -qX "$DATABASE_URL" -c "ALTER SYSTEM SET commit_delay = $delay" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
g0=$(group)
line=$(measured run_wrk "http://$api" bench/wrk/cart.lua CART=post SKUS="$skus" SESSIONS="$sessions")
row "POST /cart, commit_delay = $delay µs (wrk, closed loop; $(per_commit "$g0" "$(group)") adds per commit)" "$line"
g0=$(group)
read -r ach p50 p99 p999 err sent a pg cpu cps < <(measured run_rate_post)
echo "| POST /cart at $rate req/s, commit_delay = $delay µs (open loop; achieved $ach, p99.9 $p999 ms; $(per_commit "$g0" "$(group)") adds per commit) | $ach | $p50 | $p99 | $err | $a | $pg | $cpu% | $cps |"
psql -qX "$DATABASE_URL" -c "ALTER SYSTEM RESET commit_delay" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1

# The second API (BENCH_API2_FLAGS: by default, its gathering off).
api=$api2 apipid=$api2pid
g0=$(group)
read -r ach p50 p99 p999 err sent a pg cpu cps < <(measured run_rate_post)
echo "| POST /cart at $rate req/s, $api2_flags (open loop; achieved $ach, p99.9 $p999 ms; $(per_commit "$g0" "$(group)") adds per commit) | $ach | $p50 | $p99 | $err | $a | $pg | $cpu% | $cps |"
echo
echo "Carts afterwards: $(psql -qXAt "$url" -c "SELECT count(*) || ' sessions, ' || (SELECT coalesce(sum(count), 0) FROM elier_cart.items) || ' units' FROM elier_cart.carts"). CPU used is the API's and PostgreSQL's (not wrk's) over the run, as a share of all $(nproc) cores; a commit-bound run shows low CPU and few commits per flush, a CPU-bound one the reverse."
echo
