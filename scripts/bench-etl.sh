#!/usr/bin/env bash
# bench-etl.sh: the loader against its floor, in rounds, on two servers.
#
# The floor: the same six files' raw lines COPYed, in parallel, into
# one-text-column tables with psql \copy (FORMAT csv with a delimiter and a
# quote byte the export never holds, so no byte is interpreted: one physical
# line, one row): the cost of moving the bytes into PostgreSQL and nothing
# else. The load: `elier-etl load` of the same files (parse, validate, COPY,
# build the documents, index, swap).
#
# Each round runs, back to back: the floor, a full build (--full when the
# loader has it) and, when the loader and the generator support revisions,
# an incremental load of revision 1 over the live revision 0 and the floor
# of revision 1. A CHECKPOINT separates the runs, so no run pays for the
# previous one's dirty pages. The rounds run on the server of DATABASE_URL
# (the project's tuned PostgreSQL under make) and on a second private
# cluster with initdb's stock settings (scripts/pg.sh with ELIER_PG_STOCK=1).
#
# Every run is checked, and a failed check fails the benchmark: exit codes;
# the floor's rows per table equal the file's physical lines (wc -l, plus
# one when the last line lacks its line end); the loader's summary reads
# every data line (read = lines - 1 header - blank lines, the generated
# export having no quoted line breaks) and accounts for each
# (loaded + rejected = read).
#
# Each round starts from an empty database (BENCH_FRESH=1, the default):
# its full build is the first load and its incremental load goes over the
# one live build, issue 11's scenario, the same in every round. With
# BENCH_FRESH=0 the rounds share one database, so a later round's full
# build replaces a live catalogue and its incremental load also retires
# the previous round's lineage (a DROP SCHEMA of a whole build, 0.8-2.8 s
# at 1M products here): what the first incremental load after a second
# full build costs, a different figure.
#
# Knobs: BENCH_PRODUCTS (1000011), BENCH_ROUNDS (3), BENCH_CHANGE (0.01),
# BENCH_SEED (1), BENCH_FRESH (1), BENCH_STOCK (1: also the stock server; 0: skip it),
# BENCH_STOCK_PGDIR (.pg-stock), BENCH_STOCK_PGPORT (ELIER_PGPORT + 1).
# Prints a Markdown section.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-etl sets it)}"
products=${BENCH_PRODUCTS:-1000011}
rounds=${BENCH_ROUNDS:-3}
change=${BENCH_CHANGE:-0.01}
stock=${BENCH_STOCK:-1}
fresh=${BENCH_FRESH:-1}
stock_dir=${BENCH_STOCK_PGDIR:-$PWD/.pg-stock}
stock_port=${BENCH_STOCK_PGPORT:-$((${ELIER_PGPORT:-54329} + 1))}
tables=(product features styles skus photos related)
work=.bench/etl
mkdir -p "$work"
rec=$work/runs.tsv
: >"$rec"

dir0=$(export_dir "$products")
generate_export "$products" "$dir0"
incremental=0 changes=
if etl_supports generate --revision && etl_supports generate --changes && etl_supports load --full; then
  incremental=1
  dir1=$(export_dir "$products" 1 "$change")
  changes=$dir1.changes
  generate_export "$products" "$dir1" 1 "$changes" "$change"
fi
full_flag=()
etl_supports load --full && full_flag=(--full)

# lines FILE: physical lines (a last line without its line end counts).
lines() { local n; n=$(wc -l <"$1"); [ -s "$1" ] && [ "$(tail -c1 "$1" | od -An -c | tr -d ' ')" != '\n' ] && n=$((n + 1)); echo "$n"; }

# Each file's physical and blank lines, counted once (not once per run:
# at full scale that is gigabytes read again each time).
declare -A nlines nblank
count_lines() {
  local t
  for t in "${tables[@]}"; do
    nlines[$1/$t]=$(lines "$1/$t.csv")
    nblank[$1/$t]=$(grep -cE $'^\r?$' "$1/$t.csv" || true)
  done
}
count_lines "$dir0"
if [ "$incremental" = 1 ]; then count_lines "$dir1"; fi

# q URL SQL: one statement's rows, unaligned; notices stay quiet.
q() { PGOPTIONS='-c client_min_messages=warning' psql -qAtX -v ON_ERROR_STOP=1 "$1" -c "$2"; }

# floor URL DIR: prints seconds; fails when a COPY fails or a table's row
# count differs from its file's physical lines.
floor() {
  local url=$1 dir=$2 ddl="DROP SCHEMA IF EXISTS bench_floor CASCADE; CREATE SCHEMA bench_floor;" t
  for t in "${tables[@]}"; do ddl+=" CREATE TABLE bench_floor.$t (line text);"; done
  q "$url" "$ddl" >/dev/null
  q "$url" CHECKPOINT
  cat "$dir"/*.csv >/dev/null # the page cache: both the floor and the loader read from memory
  local t0 t1 pids=() failed=0 p
  t0=$(now)
  for t in "${tables[@]}"; do
    PGOPTIONS='-c client_min_messages=warning' psql -qX -v ON_ERROR_STOP=1 "$url" \
      -c "\\copy bench_floor.$t FROM '$dir/$t.csv' (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  t1=$(now)
  [ "$failed" = 0 ] || { echo "bench-etl: a floor COPY failed" >&2; return 1; }
  for t in "${tables[@]}"; do
    local got want
    got=$(q "$url" "SELECT count(*) FROM bench_floor.$t")
    want=${nlines[$dir/$t]}
    [ "$got" = "$want" ] || { echo "bench-etl: floor $t: $got rows, file has $want lines" >&2; return 1; }
  done
  q "$url" "DROP SCHEMA bench_floor CASCADE" >/dev/null
  q "$url" CHECKPOINT
  elapsed "$t0" "$t1"
}

# check_summary JSON DIR: every data line read and accounted for.
check_summary() {
  local t
  for t in "${tables[@]}"; do
    local want=$((${nlines[$2/$t]} - 1 - ${nblank[$2/$t]}))
    python3 - "$1" "$t.csv" "$want" <<'PY' || return 1
import json, sys
path, name, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = next((f for f in json.load(open(path))["files"] if f["file"] == name), None)
if f is None:
    sys.exit(f"bench-etl: {path} has no entry for {name}")
if f["read"] != want or f["loaded"] + f["rejected"] != f["read"]:
    sys.exit(f"bench-etl: {name}: read {f['read']}, loaded {f['loaded']}, rejected {f['rejected']}; the file has {want} data lines")
PY
  done
}

# load URL DIR LABEL ARGS...: runs elier-etl load, checks it, and prints
# "seconds wal_bytes"; the summary is kept as $work/LABEL.json.
load() {
  local url=$1 dir=$2 label=$3 t0 t1 lsn0 lsn1
  shift 3
  q "$url" CHECKPOINT
  cat "$dir"/*.csv >/dev/null
  lsn0=$(q "$url" "SELECT pg_current_wal_lsn()")
  t0=$(now)
  if ! DATABASE_URL=$url $etl load --progress none --max-shrink 1 --reject-dir "$work/rejects" \
    --summary-json "$work/$label.json" "$@" "$dir" >/dev/null 2>"$work/$label.log"; then
    echo "bench-etl: elier-etl load $* $dir failed (log: $work/$label.log)" >&2
    tail -5 "$work/$label.log" >&2
    return 1
  fi
  t1=$(now)
  lsn1=$(q "$url" "SELECT pg_current_wal_lsn()")
  check_summary "$work/$label.json" "$dir"
  echo "$(elapsed "$t0" "$t1") $(q "$url" "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")"
}

# field JSON EXPR: a value from a summary (python expression over s).
field() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"; }

# rounds SERVER URL: the rounds on one server; appends to $rec.
run_rounds() {
  local server=$1 admin=$2 url r s w
  local db=elier_bench_etl
  q "$admin" "DROP DATABASE IF EXISTS $db" >/dev/null
  q "$admin" "CREATE DATABASE $db" >/dev/null
  url=$(db_url "$admin" "$db")
  q "$url" "SELECT 'settings', current_setting('shared_buffers'), current_setting('maintenance_work_mem'),
    current_setting('work_mem'), current_setting('max_wal_size'), current_setting('synchronous_commit'),
    current_setting('server_version')" | tr '|' '\t' | sed "s/^/$server\t0\t/" >>"$rec"
  for r in $(seq "$rounds"); do
    echo "bench-etl: $server round $r of $rounds" >&2
    if [ "$fresh" = 1 ] && [ "$r" -gt 1 ]; then
      q "$admin" "DROP DATABASE $db" >/dev/null
      q "$admin" "CREATE DATABASE $db" >/dev/null
    fi
    s=$(floor "$url" "$dir0")
    printf '%s\t%s\tfloor\t%s\n' "$server" "$r" "$s" >>"$rec"
    read -r s w < <(load "$url" "$dir0" "$server-$r-full" "${full_flag[@]}")
    printf '%s\t%s\tfull\t%s\t%s\t%s\t%s\n' "$server" "$r" "$s" "$w" \
      "$(field "$work/$server-$r-full.json" 's["peak_rss_bytes"]')" \
      "$(field "$work/$server-$r-full.json" 's.get("kind", "full")')" >>"$rec"
    if [ "$incremental" = 1 ]; then
      # Untimed: the live revision 0 as a scheduled load meets it, hours
      # after it went live, vacuumed. Without this, autovacuum (its one-minute
      # naptime after the full build) vacuumed the new build's 2.4 GB during
      # some rounds' incremental loads and not others'. scripts/cluster.sh's
      # d-inc does the same.
      q "$url" "VACUUM (ANALYZE)"
      read -r s w < <(load "$url" "$dir1" "$server-$r-incr")
      printf '%s\t%s\tincremental\t%s\t%s\t%s\t%s\t%s\n' "$server" "$r" "$s" "$w" \
        "$(field "$work/$server-$r-incr.json" 's["peak_rss_bytes"]')" \
        "$(field "$work/$server-$r-incr.json" 's.get("kind", "?")')" \
        "$(field "$work/$server-$r-incr.json" '" ".join(str(s["products"][k]) for k in ("unchanged", "changed", "added", "removed"))')" >>"$rec"
      s=$(floor "$url" "$dir1")
      printf '%s\t%s\tfloor1\t%s\n' "$server" "$r" "$s" >>"$rec"
    fi
  done
  q "$admin" "DROP DATABASE $db" >/dev/null
}

started_stock=0
cleanup() {
  if [ "$started_stock" = 1 ]; then ELIER_PGDIR=$stock_dir ELIER_PGPORT=$stock_port scripts/pg.sh stop; fi
}
trap cleanup EXIT

run_rounds project "$DATABASE_URL"
if [ "$stock" = 1 ]; then
  ELIER_PGDIR=$stock_dir ELIER_PGPORT=$stock_port scripts/pg.sh status >/dev/null 2>&1 || started_stock=1
  stock_url=$(ELIER_PG_STOCK=1 ELIER_PGDIR=$stock_dir ELIER_PGPORT=$stock_port scripts/pg.sh start)
  run_rounds stock "$stock_url"
fi

# The report.
rows0=0 bytes0=0
for t in "${tables[@]}"; do
  rows0=$((rows0 + ${nlines[$dir0/$t]} - 1))
  bytes0=$((bytes0 + $(wc -c <"$dir0/$t.csv")))
done
data="$products products (BENCH_SEED=${BENCH_SEED:-1}): $rows0 data rows, $bytes0 bytes in six files"
if [ "$incremental" = 1 ]; then
  data+="; revision 1: $(grep -c . "$changes") products in its changes file ($(cut -d, -f1 "$changes" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'))"
fi
echo "## Loader (\`make bench-etl\`, scripts/bench-etl.sh)"
echo
provenance "BENCH_PRODUCTS=$products BENCH_ROUNDS=$rounds BENCH_CHANGE=$change BENCH_SEED=${BENCH_SEED:-1} BENCH_FRESH=$fresh BENCH_STOCK=$stock make bench-etl" "$data"
echo
echo "Checks, each failing the run: every COPY and load exits 0. The floor's rows in each table equal the"
echo "file's physical lines (\`wc -l\`, plus one for a last line without its line end): the floor reads"
echo "bytes, one line one row (FORMAT csv with a delimiter and quote byte the export never holds), so"
echo "unlike a plain \`COPY ... CSV\`, which reads a broken-quote line on into the next ones, it cannot"
echo "merge lines. The loader's summary JSON, per file: read = lines - 1 (the header) - blank lines (this"
echo "export has no quoted line breaks, which would join lines into one record) and loaded + rejected = read."
echo
python3 - "$rec" "$incremental" "$changes" "$fresh" <<'PY'
import collections, sys
rec, incremental, fresh = sys.argv[1], sys.argv[2] == "1", sys.argv[4] == "1"
expected = None
if incremental:
    kinds = collections.Counter(l.split(",")[0] for l in open(sys.argv[3]) if l.strip())
    expected = kinds["changed"] + kinds["added"]
runs = collections.defaultdict(dict)  # (server, round) -> kind -> fields
settings = {}
for line in open(rec):
    f = line.rstrip("\n").split("\t")
    if f[2] == "settings":
        settings[f[0]] = f[3:]
        continue
    runs[(f[0], int(f[1]))][f[2]] = f[3:]

def med(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2]

def mmm(xs, fmt="%.2f"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med(xs), min(xs), max(xs))

def by_ratio(rs):
    """The median round by ratio, and every round's ratio in round order."""
    m = sorted(rs, key=lambda r: r[1])[(len(rs) - 1) // 2]
    return m, " ".join("%.2f" % r[1] for r in rs)

print("Each round runs back to back%s: the floor, the full build%s; a CHECKPOINT before each run. "
      "Seconds are the median round's with min-max over the rounds; a ratio is the median round's "
      "(rounds ordered by that ratio), with every round's ratio beside it in round order." %
      (" in an empty database of its own (BENCH_FRESH=1: the full build is the first load)" if fresh else
       " in one database shared by all rounds (BENCH_FRESH=0: a later round's full build replaces a live"
       " catalogue, and its incremental load retires the previous round's lineage)",
       ", a VACUUM (ANALYZE) (untimed: revision 0 settled, as a live build is when the next export"
       " arrives), the incremental load of revision 1 over the live revision 0 and the floor of revision 1" if incremental else ""))
print()
print("| server | settings (shared_buffers, maintenance_work_mem, work_mem, max_wal_size, synchronous_commit) | PostgreSQL |")
print("|---|---|---|")
for server in ("project", "stock"):
    if server in settings:
        s = settings[server]
        print("| %s | %s | %s |" % (server, ", ".join(s[:5]), s[5]))
print()
targets = []  # (what, target, server, measured, met)
print("| server | run | seconds | × floor (median round) | rounds' × floor | × full build | WAL MB | WAL × full | peak RSS MiB | checks |")
print("|---|---|---|---|---|---|---|---|---|---|")
for server in ("project", "stock"):
    rounds = sorted(r for (s, r) in runs if s == server)
    if not rounds:
        continue
    R = [runs[(server, r)] for r in rounds]
    floor = [float(x["floor"][0]) for x in R]
    print("| %s | floor (raw COPY, revision 0) | %s | 1 | | | | | | rows = lines, every table |" % (server, mmm(floor)))
    full = [float(x["full"][0]) for x in R]
    fwal = [int(x["full"][1]) for x in R]
    m, ratios = by_ratio([(i, full[i] / floor[i]) for i in range(len(R))])
    print("| %s | full build (`load%s`) | %s | %.2f | %s | 1 | %s | 1 | %s | exit 0, read = lines - 1, loaded + rejected = read, kind %s |" % (
        server, " --full" if incremental else "", mmm(full), m[1], ratios, mmm([w / 2**20 for w in fwal], "%.0f"),
        mmm([int(x["full"][2]) / 2**20 for x in R], "%.0f"), "/".join(sorted({x["full"][3] for x in R}))))
    targets.append(("full build", "<= 1.5x the floor", server, "%.2fx" % m[1], m[1] <= 1.5))
    rss = max(int(x[k][2]) for x in R for k in ("full", "incremental") if k in x)
    targets.append(("peak RSS of elier-etl, every load", "<= 1 GiB", server, "%.0f MiB" % (rss / 2**20), rss <= 2**30))
    if not incremental:
        continue
    floor1 = [float(x["floor1"][0]) for x in R]
    print("| %s | floor (raw COPY, revision 1) | %s | 1 | | | | | | rows = lines, every table |" % (server, mmm(floor1)))
    inc = [float(x["incremental"][0]) for x in R]
    iwal = [int(x["incremental"][1]) for x in R]
    m, ratios = by_ratio([(i, inc[i] / floor1[i]) for i in range(len(R))])
    mf, ratios_f = by_ratio([(i, inc[i] / full[i]) for i in range(len(R))])
    mw, ratios_w = by_ratio([(i, iwal[i] / fwal[i]) for i in range(len(R))])
    prods = [list(map(int, x["incremental"][4].split())) for x in R]
    written = sorted({p[1] + p[2] for p in prods})
    kinds = "/".join(sorted({x["incremental"][3] for x in R}))
    print("| %s | incremental load of revision 1 | %s | %.2f | %s | %.2f (rounds %s) | %s | %.3f (rounds %s) | %s | exit 0, read = lines - 1, loaded + rejected = read, kind %s; documents written (changed + added) %s vs %d in the changes file |" % (
        server, mmm(inc), m[1], ratios, mf[1], ratios_f, mmm([w / 2**20 for w in iwal], "%.0f"), mw[1], ratios_w,
        mmm([int(x["incremental"][2]) / 2**20 for x in R], "%.0f"), kinds, "/".join(map(str, written)), expected))
    targets += [
        ("incremental load, wall", "<= 0.3x the floor of the same export", server, "%.2fx" % m[1], m[1] <= 0.3),
        ("incremental load, wall", "<= 0.2x a full build", server, "%.2fx" % mf[1], mf[1] <= 0.2),
        ("WAL of the incremental load", "<= 5% of a full build's", server, "%.1f%%" % (100 * mw[1]), mw[1] <= 0.05),
        ("documents written (changed + added)", "the changes file's changed + added (%d)" % expected, server,
         "/".join(map(str, written)), written == [expected]),
    ]
print()
print("Targets (issue 11), the median round's figure on each server:")
print()
print("| what | target | server | measured | met |")
print("|---|---|---|---|---|")
for what, target, server, got, met in targets:
    print("| %s | %s | %s | %s | %s |" % (what, target, server, got, "yes" if met else "no"))
print()
if not incremental:
    print("Incremental rows: not measured, this elier-etl has no `generate --revision` / `load --full` yet.")
    print()
print("Per round (seconds):")
print()
print("| server | round | floor | full build | × floor |%s" % (" incremental | floor r1 | incr × floor r1 | incr WAL MB |" if incremental else ""))
print("|---|---|---|---|---|%s" % ("---|---|---|---|" if incremental else ""))
for (server, r), x in sorted(runs.items()):
    line = "| %s | %d | %.2f | %.2f | %.2f |" % (server, r, float(x["floor"][0]), float(x["full"][0]), float(x["full"][0]) / float(x["floor"][0]))
    if incremental:
        line += " %.2f | %.2f | %.2f | %.0f |" % (float(x["incremental"][0]), float(x["floor1"][0]),
                                                 float(x["incremental"][0]) / float(x["floor1"][0]), int(x["incremental"][1]) / 2**20)
    print(line)
PY
echo
median_full=$(awk -F'\t' '$1 == "project" && $3 == "full" {print $4, $2}' "$rec" | sort -g | awk -v m=$(((rounds + 1) / 2)) 'NR == m {print $2}')
echo "Phases of the project server's median full build (s): $(field "$work/project-$median_full-full.json" '", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items())')."
