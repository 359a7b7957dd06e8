#!/usr/bin/env bash
# bench-rebuild.sh: what a rebuild costs the API's clients, second by second.
#
# elier-api serves a catalogue of BENCH_REBUILD_PRODUCTS products (default
# 100000) under skewed /products/:id/styles load (P(id) ~ 1/id, closed loop,
# BENCH_CONNS connections: bench/persec), and the catalogue is rebuilt under
# it: (a) a full rebuild of the same export (`load --full`, or plain `load`
# before the loader had --full) and (b), when the loader and the generator
# support revisions, an incremental load of revision 1 (BENCH_CHANGE of the
# products changed) over the live revision 0. bench/persec prints every
# second the answers and the change of the API's cache counters
# (elier_cache_hits_total, elier_cache_misses_total from /metrics) and the
# live build, so the swap is seen where the API saw it (the second in which
# elier_build_changes_total moved, else elier_live_build_id, else the
# loader's exit).
#
# Each round runs (a) then (b): BENCH_WARMUP s of load, BENCH_BEFORE s
# measured before the rebuild starts, the rebuild, BENCH_AFTER s after it
# ends. Reported per run: throughput before (mean req/s over the before
# window), during, the minimum 1-second throughput after the swap (the swap's
# own second included) against the before throughput, and the cache hit ratio
# in the 5 s after the swap's second against the before window's. The
# per-second table is the median round's (by that minimum ratio).
#
# Knobs: BENCH_REBUILD_PRODUCTS (100000), BENCH_ROUNDS (3), BENCH_CHANGE
# (0.01), BENCH_CONNS (64), BENCH_WARMUP (10), BENCH_BEFORE (10),
# BENCH_AFTER (20), BENCH_API_ADDR (127.0.0.1:3300). Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
: "${DATABASE_URL:?DATABASE_URL must be set (make bench-rebuild sets it)}"
n=${BENCH_REBUILD_PRODUCTS:-100000}
rounds=${BENCH_ROUNDS:-3}
change=${BENCH_CHANGE:-0.01}
conns=${BENCH_CONNS:-64}
warmup=${BENCH_WARMUP:-10}
before=${BENCH_BEFORE:-10}
after=${BENCH_AFTER:-20}
api=${BENCH_API_ADDR:-127.0.0.1:3300}
work=.bench/rebuild
rm -rf "$work"
mkdir -p "$work" bin
go build -o bin/persec ./bench/persec

dir0=$(export_dir "$n")
generate_export "$n" "$dir0"
kinds=(full)
if etl_supports generate --revision && etl_supports generate --changes && etl_supports load --full; then
  dir1=$(export_dir "$n" 1 "$change")
  generate_export "$n" "$dir1" 1 "$dir1.changes" "$change"
  kinds+=(incremental)
fi
full_flag=()
etl_supports load --full && full_flag=(--full)

db=elier_bench_rebuild_$n
psql -qX "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1 || true
url=$(db_url "$DATABASE_URL" "$db")

# load DIR LOG ARGS...: elier-etl load, failing the benchmark when it fails.
load() {
  local dir=$1 log=$2
  shift 2
  DATABASE_URL=$url "$etl" load --progress none --max-shrink 1 --reject-dir "$work/rejects" \
    --summary-json "$log.json" "$@" "$dir" >/dev/null 2>"$log" \
    || { echo "bench-rebuild: elier-etl load $* $dir failed ($log)" >&2; tail -5 "$log" >&2; return 1; }
}

load "$dir0" "$work/initial.log" "${full_flag[@]}"
bin/elier-api --addr "$api" --database-url "$url" 2>"$work/api.log" &
apipid=$!
loadpid=
cleanup() {
  if [ -n "$loadpid" ]; then kill "$loadpid" 2>/dev/null || true; fi
  kill "$apipid" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_http "$api" /readyz

: >"$work/runs.tsv"
for r in $(seq "$rounds"); do
  for kind in "${kinds[@]}"; do
    echo "bench-rebuild: round $r of $rounds, $kind rebuild" >&2
    out=$work/$r-$kind.jsonl
    bin/persec -url "http://$api" -route styles -dist skewed -n "$n" -conns "$conns" >"$out" &
    loadpid=$!
    sleep $((warmup + before))
    t0=$(now)
    if [ "$kind" = full ]; then
      load "$dir0" "$work/$r-$kind.log" "${full_flag[@]}"
    else
      load "$dir1" "$work/$r-$kind.log"
    fi
    t1=$(now)
    sleep "$after"
    kill -TERM "$loadpid"
    wait "$loadpid" || { echo "bench-rebuild: bin/persec failed" >&2; exit 1; }
    loadpid=
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$t0" "$t1" "$out" "$work/$r-$kind.log.json" >>"$work/runs.tsv"
  done
done

echo "## Rebuild under load (\`make bench-rebuild\`, scripts/bench-rebuild.sh)"
echo
data="$n products (BENCH_SEED=${BENCH_SEED:-1})"
[ "${#kinds[@]}" = 2 ] && data+="; revision 1 with --change $change: $(grep -c . "$dir1.changes") products in its changes file"
provenance "BENCH_REBUILD_PRODUCTS=$n BENCH_ROUNDS=$rounds BENCH_CHANGE=$change BENCH_CONNS=$conns BENCH_WARMUP=$warmup BENCH_BEFORE=$before BENCH_AFTER=$after make bench-rebuild" "$data"
echo
echo "Load: bench/persec, $conns connections, closed loop, skewed /products/:id/styles (P(id) ~ 1/id), no"
echo "Accept-Encoding; $warmup s of warm-up, then $before s before the rebuild starts. Throughput before"
echo "is the mean of those $before seconds; hit ratio = hits / (hits + misses) from /metrics."
echo
python3 - "$work/runs.tsv" "$before" <<'PY'
import json, sys
runs_path, before = sys.argv[1], int(sys.argv[2])

def analyse(t0, t1, path):
    secs = [json.loads(l) for l in open(path) if l.strip()]
    def ratio(ss):
        h = sum(s["counters"].get("elier_cache_hits_total", 0) for s in ss)
        m = sum(s["counters"].get("elier_cache_misses_total", 0) for s in ss)
        return h / (h + m) if h + m else float("nan")
    # A second is "before" when it ended before the rebuild started.
    pre = [s for s in secs if t0 - before <= s["unix"] <= t0]
    swap = next((i for i, s in enumerate(secs) if s["unix"] > t0 and s["counters"].get("elier_build_changes_total", 0) > 0), None)
    seen = "elier_build_changes_total"
    if swap is None:  # the live build gauge changed
        build = lambda s: s["gauges"].get("elier_live_build_id")
        swap = next((i for i, s in enumerate(secs) if i > 0 and s["unix"] > t0 and build(s) is not None and build(s) != build(secs[i - 1])), None)
        seen = "elier_live_build_id"
    if swap is None:  # no counter moved: the first second that ended after the loader exited
        swap = next(i for i, s in enumerate(secs) if s["unix"] > t1)
        seen = "loader exit"
    during = [s for s in secs[:swap] if s["unix"] > t0]
    post = secs[swap:]
    rps_before = sum(s["requests"] for s in pre) / len(pre)
    low = min(post, key=lambda s: s["requests"])
    return {
        "secs": secs, "t0": t0, "swap": swap, "seen": seen,
        "rps_before": rps_before,
        "rps_during": sum(s["requests"] for s in during) / len(during) if during else float("nan"),
        "hit_before": ratio(pre), "hit_after5": ratio(post[1:6]),
        "min_after": low["requests"], "min_ratio": low["requests"] / rps_before,
        "min_at": low["unix"] - secs[swap]["unix"],
        "errors": sum(s["errors"] for s in secs),
        "rebuild_s": t1 - t0,
    }

runs = {}
for line in open(runs_path):
    r, kind, t0, t1, path, summary = line.rstrip("\n").split("\t")
    a = analyse(float(t0), float(t1), path)
    s = json.load(open(summary))
    # what the loader says it did: a full build before the loader had kinds
    a["loader"] = s.get("kind", "full") + ("" if "products" not in s else
        ", %d changed, %d added, %d removed" % tuple(s["products"][k] for k in ("changed", "added", "removed")))
    runs.setdefault(kind, []).append((int(r), a))

print("| rebuild | loader's summary | round | rebuild s | req/s before | req/s during | min 1-s req/s after the swap | × before | hit ratio before | hit ratio, 5 s after the swap | × before | errors | swap seen by |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for kind, rs in runs.items():
    for r, a in rs:
        print("| %s | %s | %d | %.1f | %.0f | %.0f | %d (at +%.0f s) | %.2f | %.3f | %.3f | %.2f | %d | %s |" % (
            kind, a["loader"], r, a["rebuild_s"], a["rps_before"], a["rps_during"], a["min_after"], a["min_at"], a["min_ratio"],
            a["hit_before"], a["hit_after5"], a["hit_after5"] / a["hit_before"], a["errors"], a["seen"]))
print()
for kind, rs in runs.items():
    vals = sorted(a["min_ratio"] for _, a in rs)
    hits = sorted(a["hit_after5"] / a["hit_before"] for _, a in rs)
    med = lambda v: v[(len(v) - 1) // 2]
    print("- %s rebuild, %d rounds: min 1-s throughput after the swap × before: median %.2f (%.2f-%.2f); "
          "hit ratio in the 5 s after the swap × before: median %.2f (%.2f-%.2f)." % (
              kind, len(rs), med(vals), vals[0], vals[-1], med(hits), hits[0], hits[-1]))
    if kind == "incremental":
        print("  Targets (issue 11, incremental rebuild; median round): no 1-s window after the swap below 0.8x "
              "the throughput before: %s; hit ratio in the first 5 s after the swap >= 0.95x before: %s." % (
                  "met" if med(vals) >= 0.8 else "not met", "met" if med(hits) >= 0.95 else "not met"))
print()
for kind, rs in runs.items():
    r, a = sorted(rs, key=lambda x: x[1]["min_ratio"])[(len(rs) - 1) // 2]
    print("Per second, %s rebuild, round %d (the median round by the minimum ratio); t = seconds from the rebuild's start to the end of the second:" % (kind, r))
    print()
    print("| t | phase | req/s | errors | hits/s | misses/s | hit ratio | live build |")
    print("|---|---|---|---|---|---|---|---|")
    for i, s in enumerate(a["secs"]):
        t = s["unix"] - a["t0"]
        if t < -before:
            continue
        phase = "before" if t <= 0 else ("during" if i < a["swap"] else ("swap" if i == a["swap"] else "after"))
        h = s["counters"].get("elier_cache_hits_total", 0)
        m = s["counters"].get("elier_cache_misses_total", 0)
        print("| %+.0f | %s | %d | %d | %.0f | %.0f | %s | %s |" % (
            t, phase, s["requests"], s["errors"], h, m, "%.3f" % (h / (h + m)) if h + m else "-",
            "%.0f" % s["gauges"]["elier_live_build_id"] if "elier_live_build_id" in s["gauges"] else "-"))
    print()
PY
if [ "${#kinds[@]}" = 1 ]; then
  echo "Incremental rebuild: not measured, this elier-etl has no \`generate --revision\` / \`load --full\` yet."
  echo
fi
