#!/usr/bin/env bash
# Benchmark: tollgate validate vs plain kubeconform on the same generated manifests and the
# same offline schemas. Prints documents/second for each, the load average and the overhead
# ratio (best of RUNS each); exits 1 when tollgate takes more than MAX_RATIO (default 1.0, issue
# 14) times bare kubeconform. tollgate runs with --no-cache: the result cache must not answer.
#
#   ci/bench-validate.sh [DOCS]      (default 2000 documents; needs Go and the pinned kubeconform)
set -euo pipefail

DOCS=${1:-2000}
MAX_RATIO=${MAX_RATIO:-1.0}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
CACHE=${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}
KC="$CACHE/tools/kubeconform/v0.8.0/kubeconform"
if [[ ! -x "$KC" ]]; then
  echo "kubeconform not installed in $CACHE: run 'go run ./cmd/tollgate tools install kubeconform'" >&2
  exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tollgate" ./cmd/tollgate

# DOCS documents in files of 100: Deployments, Services and ConfigMaps, all valid, in block and
# flow style.
mkdir -p "$WORK/k8s"
for ((f = 0; f * 100 < DOCS; f++)); do
  out="$WORK/k8s/app-$f.yaml"
  : >"$out"
  for ((i = f * 100; i < (f + 1) * 100 && i < DOCS; i++)); do
    case $((i % 3)) in
    0) cat >>"$out" <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$i
  namespace: bench
  labels:
    app: app-$i
    team: "bench"
spec:
  replicas: 2
  selector: {matchLabels: {app: app-$i}}
  template:
    metadata: {labels: {app: app-$i}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:1.$i.0
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 0.5, memory: 256Mi}}
        livenessProbe: {httpGet: {path: /healthz, port: http}}
        securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true}
YAML
      ;;
    1) cat >>"$out" <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: app-$i, namespace: bench}
spec:
  selector: {app: app-$i}
  ports: [{port: 80, targetPort: http}]
YAML
      ;;
    2) cat >>"$out" <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-$i, namespace: bench}
data: {LOG_LEVEL: info, FEATURE_X: "true", INDEX: "$i"}
YAML
      ;;
    esac
  done
done

# Warm-up: builds the schemas into the cache (and checks the set is valid).
"$WORK/tollgate" validate -C "$WORK" k8s --cache-dir "$CACHE" --out "" --progress none --format json >"$WORK/warm.json" ||
  { echo "tollgate validate failed on the generated set:" >&2; head -50 "$WORK/warm.json" >&2; exit 2; }
SCHEMAS="$CACHE/schemas/1.36.0"
LOC="$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"

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
kc() { "$KC" -strict -summary -output json -n "$(nproc)" -kubernetes-version 1.36.0 -schema-location "$LOC" "$WORK/k8s"; }
tg() { "$WORK/tollgate" validate -C "$WORK" k8s --cache-dir "$CACHE" --no-cache --out "" --progress none --format json; }

T_KC=$(best kc)
T_TG=$(best tg)
printf 'documents:            %d\n' "$DOCS"
printf 'load average:         %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'kubeconform v0.8.0:   %.3fs  %8.0f docs/s\n' "$T_KC" "$(calc "$DOCS / $T_KC")"
printf 'tollgate validate:    %.3fs  %8.0f docs/s\n' "$T_TG" "$(calc "$DOCS / $T_TG")"
RATIO=$(calc "$T_TG / $T_KC")
printf 'overhead ratio:       %.2fx (limit %sx)\n' "$RATIO" "$MAX_RATIO"
# Compare in awk with variables: a bare ">" inside print would redirect to a file named 1.5.
if awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
  echo "FAIL: tollgate validate is more than ${MAX_RATIO}x slower than kubeconform" >&2
  exit 1
fi
