# shellcheck shell=bash
# bench-lib.sh: what the benchmark scripts share; sourced, never run.
#
# BENCH_ETL names the elier-etl binary the scripts run (bin/elier-etl by
# default; another build of it to compare two versions).
#
# Every figure in docs/BENCHMARKS.md comes with the command that produced it,
# the data size, the date and the machine, and the rounds it is the median
# of: these helpers print those parts the same way in every section.

etl=${BENCH_ETL:-bin/elier-etl}

# machine: CPU model, cores, memory and kernel, on one line.
machine() {
  local cpu mem
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
  mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  echo "${cpu:-unknown CPU}, $(nproc) cores, $mem, Linux $(uname -r)"
}

# provenance COMMAND DATA: the lines that open a section.
provenance() {
  echo "- command: \`$1\`"
  echo "- data: $2"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(machine); load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
}

# now: wall-clock seconds with nanoseconds, for durations.
now() { date +%s.%N; }

# elapsed T0 T1: seconds between two `now` readings.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# stats: reads one number per line; prints "median min max" (the median of an
# even count is the lower middle one, a value that was measured).
stats() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit 1 }
    print v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# mmm FORMAT: reads numbers, prints "median (min-max)" with printf FORMAT.
mmm() {
  local med lo hi
  read -r med lo hi < <(stats)
  # shellcheck disable=SC2059
  printf "$1 ($1-$1)" "$med" "$lo" "$hi"
}

# wait_http HOSTPORT PATH: waits up to 20 s for a 2xx answer.
wait_http() {
  for _ in $(seq 200); do curl -fs "http://$1$2" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1$2" >&2
  return 1
}

# wait_msg LOG MSG SECONDS: waits up to SECONDS for a line of elier-api's
# JSON log LOG whose message starts with MSG; fails when none came.
wait_msg() {
  for _ in $(seq $(($3 * 2))); do grep -q "\"msg\":\"$2" "$1" && return 0; sleep 0.5; done
  return 1
}

# wait_prefilled LOG: elier-api's "cache prefilled" line, within 300 s
# (either form: the whole catalogue, or up to 90% of the cache).
wait_prefilled() { wait_msg "$1" "cache prefilled" 300; }

# wait_packed LOG: elier-api's "list items packed" line, within 120 s
# (pkg/api/listitems.go: after a whole prefill, list pages are put
# together from the packed items); fails when none came (an API from
# before the packing, or a cache too small to hold the catalogue).
wait_packed() { wait_msg "$1" "list items packed" 120; }

# db_url URL DB: URL with its database name replaced by DB.
db_url() { echo "$1" | sed -E "s#/[^/?]*(\\?|\$)#/$2\\1#"; }

# etl_supports SUBCOMMAND FLAG: whether this elier-etl has the flag (the
# incremental features arrive separately; the scripts work before and after).
# (The help is read whole first: grep -q would stop reading early, and under
# pipefail the writer's SIGPIPE would count as "no".)
etl_supports() { local h; h=$("$etl" "$1" --help 2>/dev/null) && grep -q -- "$2\\b" <<<"$h"; }

# export_dir N [REVISION FRACTION]: where the scripts keep that export (shared
# between them: each is generated once).
export_dir() {
  local d=.bench/export-$1
  [ "${BENCH_SEED:-1}" != 1 ] && d+=-s$BENCH_SEED
  [ -n "${2:-}" ] && d+=-r$2-$3
  echo "$d"
}

# generate_export N DIR [REVISION CHANGES_FILE FRACTION]: writes the export
# once (revision 0, or REVISION with its changes file when the generator has
# --revision). Deterministic: the same arguments give the same files.
generate_export() {
  local n=$1 dir=$2 rev=${3:-0} changes=${4:-} fraction=${5:-0.01}
  [ -f "$dir/related.csv" ] && return 0
  local args=(--products "$n" --seed "${BENCH_SEED:-1}")
  if [ "$rev" != 0 ]; then args+=(--revision "$rev" --change "$fraction" --changes "$changes"); fi
  echo "generating $n products (revision $rev) into $dir" >&2
  "$etl" generate "${args[@]}" "$dir" >/dev/null 2>"$dir.log" || { cat "$dir.log" >&2; return 1; }
}

# server_pid URL: the postmaster's pid of the server URL names (on this
# machine), for its process tree's CPU; empty when it cannot be read.
server_pid() {
  local datadir
  datadir=$(psql -qXAt "$1" -c "SHOW data_directory")
  head -1 "$datadir/postmaster.pid" 2>/dev/null || echo ""
}

# ticks PID...: CPU clock ticks (user and system, reaped children included)
# of the processes and their children.
ticks() {
  local p c total=0 st
  for p in "$@"; do
    [ -n "$p" ] || continue
    for c in "$p" $(pgrep -P "$p"); do
      read -r -a st < <(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null) || continue
      total=$((total + st[11] + st[12] + st[13] + st[14]))
    done
  done
  echo "$total"
}
