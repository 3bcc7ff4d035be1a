#!/usr/bin/env bash
# Benchmark (not a test): a warm `tollgate run` — nothing changed since the last run, every stage
# served from the result cache — against a cold one (--no-cache, trivy's layer cache emptied) on
# the bench project: a Dockerfile, Kubernetes manifests, and the ~350 MB image of ci/benchimage
# with the offline fixture DB, stages lint, validate, score, sbom and scan. Prints the best of
# ROUNDS wall times of each, the load average, and the ratio warm/cold; exits 1 above MAX_RATIO
# (default 0.1).
#
#   ci/bench-warm.sh                       # 300 MiB of big layers, 3 rounds
#   BENCH_MB=600 BENCH_ROUNDS=5 ci/bench-warm.sh
#
# Needs Go and the pinned kubeconform, kube-score, syft and trivy in the tool cache (go run
# ./cmd/tollgate tools install). The result cache is a private one (the tool cache's tools and
# schemas are linked into it), so the shared one is neither used nor filled. Work files go to
# $BENCH_DIR (default: a fresh temp dir, removed at the end unless BENCH_KEEP=1); a BENCH_DIR
# that already holds the fixture image and the DB reuses them.
set -euo pipefail

cd "$(dirname "$0")/.."
MB=${BENCH_MB:-300}
ROUNDS=${BENCH_ROUNDS:-3}
MAX_RATIO=${MAX_RATIO:-0.1}
CACHE=${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}
W=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-warm.XXXXXX")}
if [[ -z ${BENCH_DIR:-} && -z ${BENCH_KEEP:-} ]]; then
	trap 'rm -rf "$W"' EXIT
fi
log() { printf '[bench] %s\n' "$*" >&2; }
fcalc() { awk "BEGIN { print $* }"; }
flt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

for t in kubeconform/v0.8.0/kubeconform kube-score/v1.20.0/kube-score syft/v1.57.1/syft trivy/v0.74.0/trivy; do
	if [[ ! -x $CACHE/tools/$t ]]; then
		echo "$(basename "$t") not installed in $CACHE: run 'go run ./cmd/tollgate tools install'" >&2
		exit 2
	fi
done

log "work dir $W"
mkdir -p "$W/bin"
go build -o "$W/bin/tollgate" ./cmd/tollgate
go build -o "$W/bin/benchimage" ./ci/benchimage

P=$W/project
mkdir -p "$P"
if [[ ! -e $P/image.tar ]]; then
	log "writing the ${MB} MiB fixture image"
	"$W/bin/benchimage" -out "$P/image.tar" -mb "$MB" -format docker-archive >&2
fi
if [[ ! -f $P/trivy-cache/db/trivy.db ]]; then
	log "building the offline trivy DB from fixtures/advisories"
	go run ./internal/trivydb/cmd/buildtestdb -advisories fixtures/advisories -cache-dir "$P/trivy-cache" >&2
fi
cp fixtures/demo/Dockerfile fixtures/demo/.dockerignore "$P/"
rm -rf "$P/k8s" && cp -r fixtures/demo/k8s "$P/k8s"
cat >"$P/tollgate.yaml" <<'YAML'
version: 1
stages: [lint, validate, score, sbom, scan]
ignore:
  - id: TG-DF-002
    stage: lint
    reason: base images are pinned by digest at release time
scan:
  image: image.tar
  db: {offline: true, cache-dir: trivy-cache}
YAML
log "image: $(du -sh "$P/image.tar" | cut -f1)"

# A private result cache over the shared tools and schemas.
C=$W/cache
mkdir -p "$C"
for d in tools schemas; do
	mkdir -p "$CACHE/$d"
	ln -sfn "$CACHE/$d" "$C/$d"
done

# run NAME ARGS...: one `tollgate run`; sets WALL (s). The scan gate fails on the fixture's
# CVEs (exit 1); anything else (2, 3) or a stage in error aborts the benchmark.
run() {
	local name=$1
	shift
	local t0 t1 code=0
	t0=$(date +%s.%N)
	"$W/bin/tollgate" run "$P" --cache-dir "$C" --out "$W/reports-$name" --progress none --format json "$@" >"$W/$name.json" 2>"$W/$name.err" || code=$?
	t1=$(date +%s.%N)
	WALL=$(fcalc "$t1 - $t0")
	if ((code > 1)) || grep -q '"status": "error"' "$W/$name.json"; then
		echo "$name run failed (exit $code):" >&2
		cat "$W/$name.err" "$W/$name.json" >&2
		exit 3
	fi
	CACHED=$(grep -c '"cached": true' "$W/$name.json" || true)
}

log "warm-up (page cache, schemas): one cold run"
rm -rf "$P/trivy-cache/fanal"
run warmup --no-cache

best_cold="" best_warm="" walls_cold="" walls_warm=""
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
	rm -rf "$P/trivy-cache/fanal" # trivy's layer cache would make a "cold" scan warm
	run cold --no-cache
	if ((CACHED != 0)); then
		echo "cold run served $CACHED stage(s) from the cache" >&2
		exit 3
	fi
	walls_cold+=" $(printf '%.2f' "$WALL")"
	if [[ -z $best_cold ]] || flt "$WALL" "$best_cold"; then best_cold=$WALL; fi
	run warm
	if ((CACHED != 5)); then
		echo "warm run served $CACHED of 5 stages from the cache:" >&2
		cat "$W/warm.err" >&2
		exit 3
	fi
	walls_warm+=" $(printf '%.3f' "$WALL")"
	if [[ -z $best_warm ]] || flt "$WALL" "$best_warm"; then best_warm=$WALL; fi
	log "round $r: cold ${walls_cold##* }s, warm ${walls_warm##* }s"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

ratio=$(fcalc "$best_warm / $best_cold")
printf '\nproject: lint, validate, score, sbom, scan; image %s (%s)  cores: %s  rounds: %s (best of)\n' \
	"$P/image.tar" "$(du -sh "$P/image.tar" | cut -f1)" "$(nproc)" "$ROUNDS"
printf 'load average before/after: %s / %s\n' "$load0" "$load1"
printf 'cold (--no-cache, empty trivy layer cache): best %.2fs  (all:%s)\n' "$best_cold" "$walls_cold"
printf 'warm (every stage from the result cache):   best %.3fs  (all:%s)\n' "$best_warm" "$walls_warm"
printf 'ratio warm/cold: %.3f (target <= %s): ' "$ratio" "$MAX_RATIO"
if awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r <= m) }'; then
	echo met
else
	echo MISSED
	exit 1
fi
