#!/usr/bin/env bash
# bench-section.sh NAME SCRIPT: runs one benchmark script (with bash) and writes what it
# prints into docs/BENCHMARKS.md between the lines
#
#   <!-- BEGIN NAME ... -->
#   <!-- END NAME -->
#
# replacing the previous run's section and nothing else: the hand-written
# analysis lives outside every such block and is never touched. A section
# missing from the file is added before the analysis. The file changes only
# when the script succeeds; a failed run's output is kept in
# .bench/NAME.failed.md for reading.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 script=$2
doc=${BENCH_DOC:-docs/BENCHMARKS.md}
mkdir -p .bench
out=.bench/$name.md
# tee: the run's progress is visible while it runs.
if ! bash "$script" | tee "$out.tmp"; then
  mv "$out.tmp" ".bench/$name.failed.md"
  echo "bench-section: $script failed; $doc unchanged (output: .bench/$name.failed.md)" >&2
  exit 1
fi
mv "$out.tmp" "$out"
python3 - "$doc" "$name" "$script" "$out" <<'PY'
import os, sys
doc, name, script, out = sys.argv[1:]
begin = f"<!-- BEGIN {name}: written by {script}; edits here are overwritten -->"
end = f"<!-- END {name} -->"
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
block = begin + "\n" + open(out).read().rstrip("\n") + "\n" + end
lines = text.split("\n")
starts = [i for i, l in enumerate(lines) if l.startswith(f"<!-- BEGIN {name}:")]
ends = [i for i, l in enumerate(lines) if l == end]
if starts and ends and ends[0] > starts[0]:
    lines[starts[0]:ends[0] + 1] = block.split("\n")
else:
    # before the hand-written part, which opens with this marker line
    at = next((i for i, l in enumerate(lines) if l.startswith("<!-- ANALYSIS")), len(lines))
    lines[at:at] = block.split("\n") + [""]
open(doc + ".tmp", "w").write("\n".join(lines))
os.replace(doc + ".tmp", doc)
PY
echo "bench-section: $doc section $name written" >&2
