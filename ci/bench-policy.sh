#!/usr/bin/env bash
# Benchmark: tollgate policy vs bare `gator test` on the same inputs: the full default library
# (16 templates and constraints) and DOCS generated manifests (every pod-bearing kind, Services,
# ConfigMaps, Namespaces, NetworkPolicies; a third of the workloads break a policy). Best wall
# time of RUNS runs each; prints the ratio and exits 1 when tollgate policy takes more than
# MAX_RATIO (default 1.3) times as long as gator alone.
#
#   ci/bench-policy.sh [DOCS]      (default 2000 documents; needs Go and the pinned gator)
#
# PROFILE=DIR also writes a CPU profile of Tollgate's own work around gator (loading, Pod
# Security, preparing gator's input, reading its output) to DIR/policy.cpu, from the same inputs.
set -euo pipefail

DOCS=${1:-2000}
MAX_RATIO=${MAX_RATIO:-1.3}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
CACHE=${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}
GATOR="$CACHE/tools/gator/v3.23.1/gator"
if [[ ! -x "$GATOR" ]]; then
  echo "gator not installed in $CACHE: run 'go run ./cmd/tollgate tools install gator'" >&2
  exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tollgate" ./cmd/tollgate
go run ./ci/benchpolicy -docs "$DOCS" -manifests "$WORK/k8s" -library "$WORK/library"

# Both must judge the set the same way before timing means anything: exit 1 (deny violations).
set +e
"$GATOR" test -o json -f "$WORK/library" -f "$WORK/k8s" >"$WORK/gator.json"; gc=$?
"$WORK/tollgate" policy -C "$WORK" k8s --cache-dir "$CACHE" --no-install --out "" --progress none --format json >"$WORK/tollgate.json"; tc=$?
set -e
if [[ $gc != 1 || $tc != 1 ]]; then
  echo "unexpected exit codes: gator $gc, tollgate policy $tc (want 1 and 1)" >&2
  head -c 2000 "$WORK/tollgate.json" >&2
  exit 2
fi

calc() { awk "BEGIN { print $1 }"; }
best() { # best wall time in seconds of RUNS runs of "$@"
  local b="" s e d
  for ((r = 0; r < RUNS; r++)); do
    s=$(date +%s%N); "$@" >/dev/null || true; e=$(date +%s%N)
    d=$(calc "($e - $s) / 1e9")
    if [[ -z "$b" ]] || [[ $(calc "($d < $b)") == 1 ]]; then b=$d; fi
  done
  echo "$b"
}
gt() { "$GATOR" test -o json -f "$WORK/library" -f "$WORK/k8s"; }
tg() { "$WORK/tollgate" policy -C "$WORK" k8s --cache-dir "$CACHE" --no-cache --no-install --out "" --progress none --format json; }

T_G=$(best gt)
T_T=$(best tg)
printf 'documents:              %d (+ %d library templates and constraints)\n' "$DOCS" "$(ls "$WORK"/library/*/*.yaml | wc -l)"
printf 'gator test v3.23.1:     %.3fs\n' "$T_G"
printf 'tollgate policy:        %.3fs  (gator + Pod Security Standards + reports)\n' "$T_T"
RATIO=$(calc "$T_T / $T_G")
printf 'ratio:                  %.2fx (limit %sx)\n' "$RATIO" "$MAX_RATIO"

if [[ -n "${PROFILE:-}" ]]; then
  mkdir -p "$PROFILE"
  BENCH_POLICY_MANIFESTS="$WORK/k8s" BENCH_POLICY_GATOR_OUTPUT="$WORK/gator.json" \
    go test ./internal/policy -run '^$' -bench BenchmarkAroundGator -benchtime 3x -cpuprofile "$PROFILE/policy.cpu" -o "$PROFILE/policy.test"
  echo "where Tollgate's own time goes (cumulative CPU; gator runs as its own process and is not in it):"
  go tool pprof -top -cum -nodecount 400 "$PROFILE/policy.test" "$PROFILE/policy.cpu" 2>/dev/null |
    grep -E 'BenchmarkAroundGator|manifest\.Load$|manifest\.parseYAMLStream\.func1$|policy\.(LoadSet|Prepare|NewBatch|PodSecurity|Interpret)$|report\.Render$|gate\.Apply$|runtime\.gcBgMarkWorker$' || true
fi

# Compare in awk with variables: a bare ">" inside print would redirect to a file.
if awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
  echo "FAIL: tollgate policy takes more than ${MAX_RATIO}x as long as gator alone" >&2
  exit 1
fi
