#!/usr/bin/env bash
# bench.sh: every benchmark, each writing its own section of
# docs/BENCHMARKS.md (scripts/bench-section.sh): the loader against its
# floor, the API against its ceiling, rebuilds under load, the whole
# catalogue in the API's memory, and the cart's
# benchmark when scripts/bench-cart.sh exists. A part that fails leaves its
# previous section in place; the others still run, and bench.sh then fails.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=(bench-etl bench-api bench-rebuild bench-memory)
[ -f scripts/bench-cart.sh ] && parts+=(bench-cart)
failed=()
for p in "${parts[@]}"; do
  scripts/bench-section.sh "$p" "scripts/$p.sh" || failed+=("$p")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench: failed: ${failed[*]} (their sections in docs/BENCHMARKS.md are the previous run's)" >&2
  exit 1
fi
