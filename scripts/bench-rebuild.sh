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
# live build every 100 ms, so the swap is seen where the API saw it, to a
# tenth of a second (the tick in which elier_build_changes_total moved, else
# elier_live_build_id, else the loader's exit).
#
# Each round runs (a) then (b): BENCH_WARMUP s of load, BENCH_BEFORE s
# measured before the rebuild starts, the rebuild, BENCH_AFTER s after it
# ends. Reported per run: throughput before (mean req/s over the before
# window), during, the minimum throughput of the 1-second windows that begin
# after the swap (one every tick) against the before throughput, beside the
# 1 s that ends at the swap (mostly the rebuild's, and what earlier runs,
# with one-second ticks, took as the swap's own second), and the cache hit
# ratio in the 5 s after the swap against the before window's. The
# per-second table is the median round's (by that minimum ratio).
#
# Knobs: BENCH_REBUILD_PRODUCTS (100000), BENCH_ROUNDS (3), BENCH_CHANGE
# (0.01), BENCH_CONNS (64), BENCH_WARMUP (10), BENCH_BEFORE (10),
# BENCH_AFTER (20), BENCH_SETTLE (5: the seconds after the swap whose
# windows the target takes), BENCH_API_ADDR (127.0.0.1:3300),
# BENCH_API_FLAGS (more elier-api flags, e.g. --prefill=false). Prints
# Markdown.
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
settle=${BENCH_SETTLE:-5}
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
# shellcheck disable=SC2086 # BENCH_API_FLAGS is a list of flags
bin/elier-api --addr "$api" --database-url "$url" ${BENCH_API_FLAGS:-} 2>"$work/api.log" &
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
    bin/persec -interval 100ms -url "http://$api" -route styles -dist skewed -n "$n" -conns "$conns" >"$out" &
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
provenance "BENCH_REBUILD_PRODUCTS=$n BENCH_ROUNDS=$rounds BENCH_CHANGE=$change BENCH_CONNS=$conns BENCH_WARMUP=$warmup BENCH_BEFORE=$before BENCH_AFTER=$after BENCH_SETTLE=$settle${BENCH_API_FLAGS:+ BENCH_API_FLAGS='$BENCH_API_FLAGS'} make bench-rebuild" "$data"
echo
echo "Load: bench/persec, $conns connections, closed loop, skewed /products/:id/styles (P(id) ~ 1/id), no"
echo "Accept-Encoding; $warmup s of warm-up, then $before s before the rebuild starts. Throughput before"
echo "is the mean of those $before seconds; hit ratio = hits / (hits + misses) from /metrics."
echo
python3 - "$work/runs.tsv" "$before" "$settle" "$after" <<'PY'
import json, math, sys
runs_path, before, settle, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def analyse(t0, t1, path):
    # persec's lines are 100-ms ticks (older runs: seconds); windows are
    # 1 s of consecutive ticks.
    ticks = [json.loads(l) for l in open(path) if l.strip()]
    dt = ticks[0].get("interval", 1.0)
    per = max(1, round(1 / dt))
    def ratio(ss):
        h = sum(s["counters"].get("elier_cache_hits_total", 0) for s in ss)
        m = sum(s["counters"].get("elier_cache_misses_total", 0) for s in ss)
        return h / (h + m) if h + m else float("nan")
    def rate(ss):
        return sum(s["requests"] for s in ss) / (len(ss) * dt) if ss else float("nan")
    # A tick is "before" when it ended before the rebuild started.
    pre_i = [i for i, s in enumerate(ticks) if t0 - before <= s["unix"] <= t0]
    pre = [ticks[i] for i in pre_i]
    swap = next((i for i, s in enumerate(ticks) if s["unix"] > t0 and s["counters"].get("elier_build_changes_total", 0) > 0), None)
    seen = "elier_build_changes_total"
    if swap is None:  # the live build gauge changed
        build = lambda s: s["gauges"].get("elier_live_build_id")
        swap = next((i for i, s in enumerate(ticks) if i > 0 and s["unix"] > t0 and build(s) is not None and build(s) != build(ticks[i - 1])), None)
        seen = "elier_live_build_id"
    if swap is None:  # no counter moved: the first tick that ended after the loader exited
        swap = next(i for i, s in enumerate(ticks) if s["unix"] > t1)
        seen = "loader exit"
    during = [s for s in ticks[:swap] if s["unix"] > t0]
    rps_before = rate(pre)
    # The API saw the swap during tick `swap`: the windows after the swap
    # start with the next tick, one every tick, each `per` ticks long.
    def windows(lo, hi):  # the 1-s windows that start at ticks lo..hi-1 and end by the last tick
        return [(i, sum(s["requests"] for s in ticks[i:i + per])) for i in range(lo, min(hi, len(ticks) - per + 1))]
    # Target: the windows that start within `settle` s of the swap, when
    # what the swap causes (the loader's last steps, the API's invalidation)
    # happens; beside it, all the windows of the run's after stretch, and,
    # as the control for this machine's own noise, the same minimum over
    # the before stretch, when nothing was being rebuilt.
    low_i, low = min(windows(swap + 1, swap + 1 + settle * per), key=lambda w: w[1])
    _, low_all = min(windows(swap + 1, len(ticks)), key=lambda w: w[1])
    _, low_pre = min(windows(pre_i[0], pre_i[-1] - per + 2), key=lambda w: w[1])
    # For comparison, the 1 s that ends with the swap's tick: mostly the
    # rebuild's last moments (what the one-second persec of earlier runs
    # reported as the swap's own second).
    at_swap = sum(s["requests"] for s in ticks[max(0, swap - per + 1):swap + 1])
    return {
        "ticks": ticks, "dt": dt, "t0": t0, "swap": swap, "seen": seen,
        "rps_before": rps_before, "rps_during": rate(during),
        "hit_before": ratio(pre), "hit_after5": ratio(ticks[swap + 1:swap + 1 + 5 * per]),
        "min_after": low, "min_ratio": low / rps_before,
        "min_all_ratio": low_all / rps_before, "control_ratio": low_pre / rps_before,
        "mean_after_ratio": rate(ticks[swap + 1:swap + 1 + settle * per]) / rps_before,
        "min_at": ticks[low_i]["unix"] - dt - ticks[swap]["unix"],
        "at_swap": at_swap, "at_swap_ratio": at_swap / rps_before,
        "errors": sum(s["errors"] for s in ticks),
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

print("| rebuild | loader's summary | round | rebuild s | req/s before | req/s during | min 1-s req/s, %d s after the swap | × before | all %d s after, × before | control: min 1-s before, × before | the 1 s ending at the swap, × before | hit ratio before | hit ratio, 5 s after the swap | × before | errors | swap seen by |" % (settle, after))
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for kind, rs in runs.items():
    for r, a in rs:
        print("| %s | %s | %d | %.1f | %.0f | %.0f | %d (from +%.1f s) | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f | %d | %s |" % (
            kind, a["loader"], r, a["rebuild_s"], a["rps_before"], a["rps_during"], a["min_after"], a["min_at"], a["min_ratio"],
            a["min_all_ratio"], a["control_ratio"], a["at_swap_ratio"], a["hit_before"], a["hit_after5"], a["hit_after5"] / a["hit_before"],
            a["errors"], a["seen"]))
print()
print("A window after the swap is 1 s of consecutive %.1f-s ticks that starts after the tick in which the API saw the swap "
      "(\"from +x s\": its start, from the end of that tick): the target's column takes those that start within %d s of it, "
      "while what the swap sets off (the loader's last steps, the API's invalidation) runs; the column after it every window of the "
      "%d s after. The control is the same minimum over the %d s before the rebuild, when nothing was rebuilt: what this "
      "machine's own noise gives. The last throughput column is the 1 s that ends with the swap's tick, most of it still the "
      "rebuild's (earlier runs, with one-second ticks, reported the second that held the swap)." % (
          next(iter(runs.values()))[0][1]["dt"], settle, after, before))
print()
for kind, rs in runs.items():
    vals = sorted(a["min_ratio"] for _, a in rs)
    alls = sorted(a["min_all_ratio"] for _, a in rs)
    ctrl = sorted(a["control_ratio"] for _, a in rs)
    means = sorted(a["mean_after_ratio"] for _, a in rs)
    hits = sorted(a["hit_after5"] / a["hit_before"] for _, a in rs)
    med = lambda v: v[(len(v) - 1) // 2]
    print("- %s rebuild, %d rounds: min 1-s throughput in the %d s after the swap × before: median %.2f (%.2f-%.2f); "
          "in all %d s after: median %.2f (%.2f-%.2f); control, in the %d s before: median %.2f (%.2f-%.2f); "
          "mean throughput of the %d s after the swap × before: median %.2f (%.2f-%.2f); "
          "hit ratio in the 5 s after the swap × before: median %.2f (%.2f-%.2f)." % (
              kind, len(rs), settle, med(vals), vals[0], vals[-1], after, med(alls), alls[0], alls[-1],
              before, med(ctrl), ctrl[0], ctrl[-1], settle, med(means), means[0], means[-1], med(hits), hits[0], hits[-1]))
    if kind == "incremental":
        print("  Targets (issue 11, incremental rebuild; median round): no 1-s window after the swap below 0.8x "
              "the throughput before: %s in the %d s after the swap, %s in all %d s after (control: %s); "
              "hit ratio in the first 5 s after the swap >= 0.95x before: %s." % (
                  "met" if med(vals) >= 0.8 else "not met", settle, "met" if med(alls) >= 0.8 else "not met", after,
                  "a quiet stretch of the same machine meets it" if med(ctrl) >= 0.8 else
                  "a quiet stretch of the same machine does not meet it either",
                  "met" if med(hits) >= 0.95 else "not met"))
print()
for kind, rs in runs.items():
    r, a = sorted(rs, key=lambda x: x[1]["min_ratio"])[(len(rs) - 1) // 2]
    print("Per second, %s rebuild, round %d (the median round by the minimum ratio); t = seconds from the rebuild's start to the end of the second; "
          "\"swap\" is the second that holds the tick in which the API saw it:" % (kind, r))
    print()
    print("| t | phase | req/s | errors | hits/s | misses/s | hit ratio | live build |")
    print("|---|---|---|---|---|---|---|---|")
    secs = {}
    for i, s in enumerate(a["ticks"]):
        k = math.ceil(s["unix"] - a["t0"] - 1e-9)
        if k <= -before:
            continue
        secs.setdefault(k, []).append((i, s))
    for k, ts in sorted(secs.items()):
        if len(ts) * a["dt"] < 0.95:
            continue  # a second cut short at the end of the run
        idx = [i for i, _ in ts]
        phase = "before" if k <= 0 else ("swap" if a["swap"] in idx else ("during" if idx[-1] < a["swap"] else "after"))
        h = sum(s["counters"].get("elier_cache_hits_total", 0) for _, s in ts)
        m = sum(s["counters"].get("elier_cache_misses_total", 0) for _, s in ts)
        last = ts[-1][1]
        print("| %+d | %s | %d | %d | %.0f | %.0f | %s | %s |" % (
            k, phase, sum(s["requests"] for _, s in ts), sum(s["errors"] for _, s in ts), h, m,
            "%.3f" % (h / (h + m)) if h + m else "-",
            "%.0f" % last["gauges"]["elier_live_build_id"] if "elier_live_build_id" in last["gauges"] else "-"))
    print()
PY
if [ "${#kinds[@]}" = 1 ]; then
  echo "Incremental rebuild: not measured, this elier-etl has no \`generate --revision\` / \`load --full\` yet."
  echo
fi
