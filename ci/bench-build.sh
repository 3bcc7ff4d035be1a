#!/usr/bin/env bash
# Benchmark (not a test): a warm rebuild of an unchanged project against a cold build of it,
# with the native builder (Tollgate's private BuildKit). Cold starts from an empty BuildKit
# cache; warm reuses the cache the cold build left in the tool cache dir (as consecutive runs
# on one machine do). Prints both wall times and the ratio warm/cold; exits 1 above the target.
#
#   ci/bench-build.sh                        # 100 MiB base layer, 30M SHA-256 rounds (~6 s), target 0.2
#   BENCH_BASE_MB=300 BENCH_ROUNDS=40000000 BENCH_TARGET=0.2 ci/bench-build.sh
#
# Needs Go, root and runc (the native builder's requirements), and the pinned buildkitd in the
# tool cache (go run ./cmd/tollgate tools install buildkitd). The project is fixtures/demo-build
# plus one RUN step of CPU work standing in for a compile (the fixture's own steps only write a
# few files); its base image, with an extra layer of BENCH_BASE_MB MiB to pull and unpack, is
# served by a loopback registry started here.
set -euo pipefail

cd "$(dirname "$0")/.."
MB=${BENCH_BASE_MB:-100}
ROUNDS=${BENCH_ROUNDS:-30000000}
TARGET=${BENCH_TARGET:-0.2}
W=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-build.XXXXXX")
REG_PID=""
cleanup() {
	[[ -n $REG_PID ]] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
	rm -rf "$W"
}
[[ -n ${BENCH_KEEP:-} ]] || trap cleanup EXIT
log() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s.%N; }
fcalc() { awk "BEGIN { print $* }"; }

go build -o "$W/tollgate" ./cmd/tollgate
go build -o "$W/serveregistry" ./internal/testimage/cmd/serveregistry

# A tool cache of our own whose buildkit/ starts empty, with the real tools linked in.
REAL_CACHE=${TOLLGATE_CACHE_DIR:-$HOME/.cache/tollgate}
"$W/tollgate" tools install buildkitd --cache-dir "$REAL_CACHE" >&2
mkdir -p "$W/cache"
ln -s "$REAL_CACHE/tools" "$W/cache/tools"

"$W/serveregistry" -addr 127.0.0.1:0 -base-mb "$MB" > "$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 600); do
	grep -q serving "$W/registry.log" 2>/dev/null && break
	[[ -d /proc/$REG_PID ]] && ! grep -q zombie "/proc/$REG_PID/status" 2>/dev/null || { cat "$W/registry.log" >&2; exit 1; }
	sleep 0.1
done
grep -q serving "$W/registry.log" || { echo "the fixture registry did not start" >&2; exit 1; }
ADDR=$(sed -n 's|.* on http://\([^ ]*\) .*|\1|p' "$W/registry.log")
log "base image with a $MB MiB layer on $ADDR; RUN step of $ROUNDS SHA-256 rounds"

cp -r fixtures/demo-build "$W/project"
# The work step goes before USER: the unprivileged user cannot write the image's directories.
sed -i "s|^USER |RUN rounds $ROUNDS /usr/src/app/compiled.txt\nUSER |" "$W/project/Dockerfile"

build() {
	local start end
	start=$(now)
	"$W/tollgate" build "$W/project" --cache-dir "$W/cache" --build-arg "REGISTRY=$ADDR" \
		--build-output "$W/image.oci.tar" --out "" --progress plain >"$W/build.out" 2>"$W/build.err" || {
				exit 1
	}
	end=$(now)
	fcalc "$end - $start"
}

COLD=$(build) || { cat "$W/build.err" >&2; exit 1; }
log "cold: ${COLD}s ($(grep -c 'cached)' "$W/build.err" || true) cached steps)"
WARM=$(build) || { cat "$W/build.err" >&2; exit 1; }
log "warm: ${WARM}s ($(grep -c 'cached)' "$W/build.err" || true) cached steps)"
RATIO=$(fcalc "$WARM / $COLD")
printf 'cold %.2fs  warm %.2fs  ratio warm/cold %.3f (target <= %s)\n' "$COLD" "$WARM" "$RATIO" "$TARGET"
awk -v r="$RATIO" -v t="$TARGET" 'BEGIN { exit !(r <= t) }' || { echo "bench-build: warm rebuild is above ${TARGET}x of cold" >&2; exit 1; }
