#!/usr/bin/env bash
# bench.sh: both benchmarks, their tables written to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/BENCHMARKS.md
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d). Figures on a shared"
  echo "2-core machine are noisy: compare the ratios within one run, not absolute"
  echo "numbers across runs. The load average at each run is in the tables."
  echo
  echo "## Loader (\`make bench-etl\`, scripts/bench-etl.sh)"
  echo
  scripts/bench-etl.sh
  echo
  echo "## API (\`make bench-api\`, scripts/bench-api.sh)"
  echo
  scripts/bench-api.sh
  echo
  echo "## Cart (\`make bench-cart\`, scripts/bench-cart.sh)"
  echo
  scripts/bench-cart.sh
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
