#!/usr/bin/env bash
# How long a CI job spends in Dagger: the old templates' three `dagger call`s (SARIF report,
# Markdown summary, gate check: three sessions, three pipeline runs) against the new single
# `dagger -c` script (one session, one run, every report kept, the gate enforced). Runs on the demo
# project (a copy outside the module's directory), warm engine, and prints both times and the
# ratio; exits 1 when the single script is not at least TARGET times faster.
#   ci/bench-dagger-ci.sh [ROUNDS]      env: TARGET (default 1.5)
set -euo pipefail
cd "$(dirname "$0")/.."
MOD=$(pwd)
rounds=${1:-3}
target=${TARGET:-1.5}
if ! command -v dagger >/dev/null 2>&1 || ! dagger core version >/dev/null 2>&1; then
  echo "bench-dagger-ci: SKIPPED: no Dagger engine"
  exit 0
fi
work=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r fixtures/demo/. "$work/"
cd "$work"

before() {
  dagger --progress=plain call -m "$MOD" run report --format=sarif export --path=tollgate.sarif >/dev/null 2>&1
  dagger --progress=plain call -m "$MOD" run report --format=markdown export --path=summary.md >/dev/null 2>&1
  dagger --progress=plain call -m "$MOD" run check >/dev/null 2>&1
}
after() {
  dagger --progress=plain -m "$MOD" -c '
    r=$(run)
    $r | reports | export tollgate-reports
    $r | check' >/dev/null 2>&1
}
ms() { local s; s=$(date +%s%N); "$@"; echo $(( ($(date +%s%N) - s) / 1000000 )); }

after >/dev/null # warm-up: module built, tool images pulled
b=0 a=0
for i in $(seq "$rounds"); do
  tb=$(ms before) ta=$(ms after)
  echo "round $i: three calls ${tb} ms, one script ${ta} ms"
  b=$((b + tb)) a=$((a + ta))
done
python3 - "$b" "$a" "$rounds" "$target" <<'EOF'
import sys
b, a, n, target = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ratio = b / a
print(f"mean: three calls {b/n/1000:.1f} s, one script {a/n/1000:.1f} s, speed-up {ratio:.2f}x (target >= {target}x)")
sys.exit(0 if ratio >= target else 1)
EOF
