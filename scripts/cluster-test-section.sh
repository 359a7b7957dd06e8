#!/usr/bin/env bash
# cluster-test-section.sh: `scripts/cluster.sh test` as a Markdown section
# for docs/DEPLOY.md (make cluster-test-doc, through bench-section.sh): the
# issue's targets against the run's figures (results/figures.txt), then
# the run's summary. It shows the run whatever its verdicts: a FAIL line is
# a figure too. Only a run that did not get to its summary fails this.
set -uo pipefail
cd "$(dirname "$0")/.."
work=${ELIER_CLUSTER_DIR:-.cluster}
res=$work/results
rm -f "$res/summary.txt"
scripts/cluster.sh test >&2
rc=$?
[ -s "$res/summary.txt" ] || { echo "cluster-test-section: no summary (exit $rc)" >&2; exit 1; }

declare -A f=()
if [ -f "$res/figures.txt" ]; then
  while IFS= read -r line; do f[${line%%=*}]=${line#*=}; done <"$res/figures.txt"
fi
g() { echo "${f[$1]:--}"; } # a figure, - when its scenario did not run
met() { if [ "$1" = 1 ]; then echo "met"; else echo "**not met**"; fi; }
le() { [ "$1" != - ] && [ "$2" != - ] && [ "$(echo "$1 <= $2" | bc)" = 1 ]; }

echo "Written by \`make cluster-test-doc\` (scripts/cluster.sh test, exit $rc): $(head -1 "$res/summary.txt" | sed 's/^cluster-test: //')."
echo
echo "| what | target | measured | verdict |"
echo "|---|---|---|---|"
ok=0; le "$(g f-sync.new_leader)" 12 && le "$(g f-async.new_leader)" 12 && ok=1
echo "| leader \`kill -9\` → new leader | ≤ 12 s | $(g f-sync.new_leader) s (sync), $(g f-async.new_leader) s (async) | $(met $ok) |"
ok=1; reads=""
for n in f-sync f-async g s c x-failsafe x-plain; do
  [ "$(g $n.read_failed)" = - ] && continue
  reads+="$n $(g $n.read_failed), "
  [ "$(g $n.read_failed)" = 0 ] || ok=0
done
echo "| catalogue requests failed during a leader loss, a load cut, a switchover, a rejoin, a standby stop, etcd lost | 0 | ${reads%, } | $(met $ok) |"
ok=0
for n in f-sync f-async; do
  [ "$(g $n.cart_bad)" = 0 ] && le "$(g $n.cart_last_failure)" "$(echo "$(g $n.new_leader) + 2" | bc 2>/dev/null || echo -)" && ok=$((ok + 1))
done
[ "$ok" = 2 ] && ok=1 || ok=0
echo "| cart writes during a leader loss | only 503 + \`Retry-After\`, ≤ new leader + 2 s | sync: $(g f-sync.cart_unavailable) 503s, $(g f-sync.cart_bad) others, last $(g f-sync.cart_last_failure) s after the kill; async: $(g f-async.cart_unavailable) 503s, $(g f-async.cart_bad) others, last $(g f-async.cart_last_failure) s | $(met $ok) |"
ok=0; [ "$(g f-sync.lost)" = 0 ] && ok=1
echo "| acknowledged cart writes lost | 0 (\`synchronous_mode\`) | sync: $(g f-sync.lost) of $(g f-sync.acked); async (measured): $(g f-async.lost) of $(g f-async.acked) | $(met $ok) |"
ok=0; le "$(g s.downtime)" 2 && ok=1
echo "| planned switchover, write downtime | ≤ 2 s | $(g s.downtime) s (longest gap between acknowledged adds) | $(met $ok) |"
ok=0; [ "$(g g.exit)" != 0 ] && [ "$(g g.exit)" != - ] && [ "$(g g.rerun)" = 0 ] && [[ $(g g.whole) == yes* ]] && ok=1
echo "| a load interrupted by a leader loss | live catalogue whole; the rerun succeeds, no manual step | exit $(g g.exit) (\`$(g g.message | cut -c1-90)…\`); whole: $(g g.whole); rerun exit $(g g.rerun) | $(met $ok) |"
echo "| (not a target) the old leader rejoins | by itself | streaming $(g f-sync.rejoin) s / $(g f-async.rejoin) s after its restart; APIs reading from it $(g f-sync.reads_back) s / $(g f-async.reads_back) s later | - |"
echo "| (not a target) etcd lost | | writes stopped: failsafe_mode on: $(g x-failsafe.writes_stopped); off: $(g x-plain.writes_stopped) | - |"
echo
echo '```'
grep -v '^details:' "$res/summary.txt"
echo '```'
