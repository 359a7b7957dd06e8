#!/usr/bin/env bash
# bench-build-ab.sh OLD_ETL NEW_ETL: two elier-etl binaries' builds side by
# side, in one run, on the same PostgreSQL and the same export: each round
# is a full build of revision 0 by each (--full), then an incremental build
# of revision 1 over it by each, into two databases of their own, old first
# in odd rounds and new first in even ones. Prints
# Markdown: each load's seconds and WAL, the median round's new/old ratios,
# and the size of each one's live documents (pg_total_relation_size of the
# docs table of the live lineage, and the sum of the stored bytes of the
# served documents).
#
# For a change to the documents' storage (docs/BENCHMARKS.md, "Stored
# documents"): issue 14's "full build no worse by more than 10%" and
# "documents in PostgreSQL <= 0.6x".
#
#   BENCH_PRODUCTS (1000011), BENCH_ROUNDS (3), BENCH_CHANGE (0.01),
#   BENCH_SEED (1)
set -euo pipefail
# (Or BENCH_AB_OLD and BENCH_AB_NEW, bin/elier-etl by default, for
# `make bench-build-ab`, which writes the section of docs/BENCHMARKS.md
# named BENCH_AB_SECTION, bench-build-ab by default: one section per change
# compared, so a later comparison does not erase an earlier one's figures.)
if [ $# -eq 0 ] && [ -n "${BENCH_AB_OLD:-}" ]; then set -- "$BENCH_AB_OLD" "${BENCH_AB_NEW:-bin/elier-etl}"; fi
[ $# -eq 2 ] || { echo "usage: $0 OLD_ETL NEW_ETL (or BENCH_AB_OLD=OLD_ETL)" >&2; exit 2; }
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must be set}"
old=$1 new=$2
products=${BENCH_PRODUCTS:-1000011}
rounds=${BENCH_ROUNDS:-3}
change=${BENCH_CHANGE:-0.01}
work=.bench/build-ab
mkdir -p "$work"
etl=$new
dir0=$(export_dir "$products")
generate_export "$products" "$dir0"
dir1=$(export_dir "$products" 1 "$change")
generate_export "$products" "$dir1" 1 "$dir1.changes" "$change"

q() { PGOPTIONS='-c client_min_messages=warning' psql -qAtX -v ON_ERROR_STOP=1 "$1" -c "$2"; }
declare -A url
for who in old new; do
  db=elier_ab_$who
  q "$DATABASE_URL" "DROP DATABASE IF EXISTS $db" >/dev/null
  q "$DATABASE_URL" "CREATE DATABASE $db" >/dev/null
  url[$who]=$(db_url "$DATABASE_URL" "$db")
done
bin() { if [ "$1" = old ]; then echo "$old"; else echo "$new"; fi; }

# load WHO DIR ARGS...: prints "seconds wal_bytes".
load() {
  local who=$1 dir=$2 u t0 t1 lsn0 lsn1
  shift 2
  u=${url[$who]}
  q "$u" CHECKPOINT
  cat "$dir"/*.csv >/dev/null
  lsn0=$(q "$u" "SELECT pg_current_wal_lsn()")
  t0=$(now)
  "$(bin "$who")" load "$dir" --database-url "$u" --max-shrink 1 "$@" >/dev/null 2>"$work/$who.log" ||
    { tail -5 "$work/$who.log" >&2; return 1; }
  t1=$(now)
  lsn1=$(q "$u" "SELECT pg_current_wal_lsn()")
  echo "$(elapsed "$t0" "$t1") $(q "$u" "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")"
}

section=${BENCH_AB_SECTION:-bench-build-ab}
echo "## Two builds side by side: $section (\`scripts/bench-build-ab.sh\`)"
echo
provenance "BENCH_PRODUCTS=$products BENCH_ROUNDS=$rounds BENCH_CHANGE=$change BENCH_AB_OLD=$old BENCH_AB_NEW=$new${BENCH_AB_SECTION:+ BENCH_AB_SECTION=$BENCH_AB_SECTION} make bench-build-ab" \
  "generated export of $products products (BENCH_SEED=${BENCH_SEED:-1}), revision 0 and revision 1 ($change changed)"
echo "- old: \`$old\` ($("$old" --version 2>/dev/null || echo "$old")), new: \`$new\`"
echo
echo "| round | old full s | new full s | new/old | old full WAL MB | new full WAL MB | old incr s | new incr s | new/old | old incr WAL MB | new incr WAL MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
: >"$work/rounds.tsv"
# The order alternates from round to round (old first, then new first):
# this machine's speed drifts over minutes, and whichever ran second in
# every round would carry the drift.
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    read -r of ow < <(load old "$dir0" --full)
    read -r nf nw < <(load new "$dir0" --full)
    read -r oi oiw < <(load old "$dir1")
    read -r ni niw < <(load new "$dir1")
  else
    read -r nf nw < <(load new "$dir0" --full)
    read -r of ow < <(load old "$dir0" --full)
    read -r ni niw < <(load new "$dir1")
    read -r oi oiw < <(load old "$dir1")
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$of" "$nf" "$ow" "$nw" "$oi" "$ni" "$oiw" "$niw" >>"$work/rounds.tsv"
  awk -F'\t' -v r="$r" 'NR == r { printf "| %d | %.1f | %.1f | %.2fx | %.0f | %.0f | %.1f | %.1f | %.2fx | %.0f | %.0f |\n",
    $1, $2, $3, $3 / $2, $4 / 1e6, $5 / 1e6, $6, $7, $7 / $6, $8 / 1e6, $9 / 1e6 }' "$work/rounds.tsv"
done
echo
ratio() { awk -F'\t' -v a="$1" -v b="$2" '{ print $b / $a }' "$work/rounds.tsv" | mmm '%.2fx'; }
echo "- full build, new/old: $(ratio 2 3) (median round, min-max)"
echo "- full build WAL, new/old: $(ratio 4 5)"
echo "- incremental build, new/old: $(ratio 6 7)"
echo "- incremental WAL, new/old: $(ratio 8 9)"
# size WHO: the live lineage's docs table, and the served documents' bytes.
size() {
  local u=${url[$1]} schema
  schema=$(q "$u" "SELECT coalesce(docs_schema, schema_name) FROM elier.builds WHERE state = 'live'")
  q "$u" "SELECT pg_total_relation_size('$schema.docs'),
                 (SELECT sum(octet_length(product) + octet_length(styles) + octet_length(related)) FROM elier.docs)" | tr '|' ' '
}
read -r os od < <(size old)
read -r ns nd < <(size new)
awk -v os="$os" -v ns="$ns" -v od="$od" -v nd="$nd" 'BEGIN {
  printf "- live documents in PostgreSQL (pg_total_relation_size of the lineage'"'"'s docs table, after the last round): old %.0f MB, new %.0f MB: %.2fx\n", os / 1e6, ns / 1e6, ns / os
  printf "- the served documents'"'"' stored bytes (product, styles, related): old %.0f MB, new %.0f MB: %.2fx\n", od / 1e6, nd / 1e6, nd / od }'
for who in old new; do q "$DATABASE_URL" "DROP DATABASE elier_ab_$who" >/dev/null; done
