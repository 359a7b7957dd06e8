#!/usr/bin/env bash
# cluster-test-section.sh: `scripts/cluster.sh test` as a Markdown section
# for docs/DEPLOY.md (make cluster-test-doc, through bench-section.sh). The
# section shows the run's summary whatever its verdicts: a FAIL line is a
# figure too. Only a run that did not get to its summary fails this.
set -uo pipefail
cd "$(dirname "$0")/.."
work=${ELIER_CLUSTER_DIR:-.cluster}
rm -f "$work/results/summary.txt"
scripts/cluster.sh test >&2
rc=$?
[ -s "$work/results/summary.txt" ] || { echo "cluster-test-section: no summary (exit $rc)" >&2; exit 1; }
echo "Written by \`make cluster-test-doc\` (scripts/cluster.sh test; exit $rc). One line a scenario:"
echo
echo '```'
grep -v '^details:' "$work/results/summary.txt"
echo '```'
