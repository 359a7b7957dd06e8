#!/bin/sh
# render-nginx.sh TEMPLATE OUTPUT: writes TEMPLATE with each ${UPPER_CASE}
# name replaced by its value in the environment, and fails, writing nothing,
# when one is unset. nginx's own variables ($host, $upstream_addr) are lower
# case and stay as they are. POSIX sh and envsubst only: scripts/cluster.sh
# runs it here and compose.yaml's nginx service runs it in the official image.
set -eu
[ $# -eq 2 ] || { echo "usage: render-nginx.sh TEMPLATE OUTPUT" >&2; exit 2; }
tmpl=$1 out=$2
# shellcheck disable=SC2016 # the pattern matches a literal ${NAME}
names=$(grep -o '\${[A-Z][A-Z0-9_]*}' "$tmpl" | tr -d '${}' | sort -u)
missing=
for n in $names; do
  eval "set=\${$n+x}"
  # shellcheck disable=SC2154 # set by the eval
  [ -n "$set" ] || missing="$missing $n"
done
[ -z "$missing" ] || { echo "render-nginx.sh: not set:$missing" >&2; exit 1; }
vars=
for n in $names; do vars="$vars \${$n}"; done
envsubst "$vars" <"$tmpl" >"$out.tmp"
mv "$out.tmp" "$out"
