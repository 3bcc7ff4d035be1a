#!/usr/bin/env bash
# Benchmark: `tollgate run` (lint + validate + score, inputs discovered, no tollgate.yaml) on a
# generated tree of SERVICES services with MANIFESTS manifests in all, against the bare tools
# run per service directory the way a CI script would: kubeconform on the directory,
# kube-score on its files, `tollgate lint` on its Dockerfile (hadolint is not available here).
# Both see the same files and the same offline schemas. Prints both wall times and the ratio;
# exits 1 when tollgate is slower than MAX_RATIO (default 1.0) times the bare tools.
#
#   ci/bench-run.sh [SERVICES] [MANIFESTS]   (default 50 and 1000; needs Go, the pinned
#                                            kubeconform and kube-score, and the schemas)
set -euo pipefail

SERVICES=${1:-50}
MANIFESTS=${2:-1000}
MAX_RATIO=${MAX_RATIO:-1.0}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
CACHE=${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}
KC="$CACHE/tools/kubeconform/v0.8.0/kubeconform"
KS="$CACHE/tools/kube-score/v1.20.0/kube-score"
for t in "$KC" "$KS"; do
  if [[ ! -x "$t" ]]; then
    echo "$(basename "$t") not installed in $CACHE: run 'go run ./cmd/tollgate tools install kubeconform kube-score'" >&2
    exit 2
  fi
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tollgate" ./cmd/tollgate

# The tree: src/svc-N/Dockerfile and deploy/svc-N/*.yaml, one object per file, a mix of
# workloads and what goes with them, plus the files real repositories keep beside them.
TREE="$WORK/tree"
per=$((MANIFESTS / SERVICES))
for ((s = 0; s < SERVICES; s++)); do
  svc="svc-$s"
  mkdir -p "$TREE/src/$svc" "$TREE/deploy/$svc"
  cat >"$TREE/src/$svc/Dockerfile" <<DOCKERFILE
# syntax=docker/dockerfile:1
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod main.go ./
RUN CGO_ENABLED=0 go build -o /out/$svc .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/$svc /$svc
USER 10001:10001
ENTRYPOINT ["/$svc"]
DOCKERFILE
  printf 'services:\n  %s: {build: ../../src/%s}\n' "$svc" "$svc" >"$TREE/src/$svc/docker-compose.yml"
  for ((i = 0; i < per; i++)); do
    name="$svc-$i"
    f="$TREE/deploy/$svc/$i.yaml"
    case $((i % 5)) in
    0) cat >"$f" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name
  namespace: bench
  labels: {app: $name}
spec:
  replicas: 2
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.example.com/$svc:1.$i.0
        imagePullPolicy: Always
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}
        readinessProbe: {httpGet: {path: /ready, port: http}}
        livenessProbe: {httpGet: {path: /healthz, port: http}}
        securityContext: {runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
YAML
      ;;
    1) cat >"$f" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $svc-$((i - 1)), namespace: bench}
spec:
  selector: {app: $svc-$((i - 1))}
  ports: [{port: 80, targetPort: http}]
YAML
      ;;
    2) cat >"$f" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: $name, namespace: bench}
data: {LOG_LEVEL: info, FEATURE_X: "true", INDEX: "$i"}
YAML
      ;;
    3) cat >"$f" <<YAML
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: $svc-$((i - 3)), namespace: bench}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: $svc-$((i - 3))}}
YAML
      ;;
    4) cat >"$f" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $svc-$((i - 4)), namespace: bench}
spec:
  podSelector: {matchLabels: {app: $svc-$((i - 4))}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {}}]}]
  egress: [{to: [{podSelector: {}}]}]
YAML
      ;;
    esac
  done
done
files=$(find "$TREE/deploy" -name '*.yaml' | wc -l)

# Warm-up: builds the schemas into the cache and checks that the run works on the tree.
"$WORK/tollgate" run "$TREE" --stages lint,validate,score --cache-dir "$CACHE" --out "" --progress none --format json >"$WORK/warm.json" || {
  code=$?
  if [[ $code -ge 2 ]]; then
    echo "tollgate run failed (exit $code) on the generated tree:" >&2
    head -c 3000 "$WORK/warm.json" >&2
    exit 2
  fi
}
LOC="$CACHE/schemas/1.36.0/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"

calc() { awk "BEGIN { print $1 }"; }
best() { # best wall time in seconds of RUNS runs of "$@"
  local b="" start end d r
  for ((r = 0; r < RUNS; r++)); do
    start=$(date +%s%N); "$@" >/dev/null 2>&1 || true; end=$(date +%s%N)
    d=$(calc "($end - $start) / 1e9")
    if [[ -z "$b" ]] || [[ $(calc "($d < $b)") == 1 ]]; then b=$d; fi
  done
  echo "$b"
}
bare() { # what a CI script does: each service's directory, each tool
  local svc k
  for ((k = 0; k < SERVICES; k++)); do
    svc="svc-$k"
    "$KC" -strict -summary -output json -kubernetes-version 1.36.0 -schema-location "$LOC" "$TREE/deploy/$svc" || true
    "$KS" score --output-format json --kubernetes-version v1.36 "$TREE/deploy/$svc"/*.yaml || true
    "$WORK/tollgate" lint -C "$TREE" "src/$svc/Dockerfile" --cache-dir "$CACHE" --no-cache --out "" --progress none --format json || true
  done
}
tg() { "$WORK/tollgate" run "$TREE" --stages lint,validate,score --cache-dir "$CACHE" --no-cache --out "" --progress none --format json; }

T_BARE=$(best bare)
T_TG=$(best tg)
printf 'tree:                          %d services, %d manifests, %d Dockerfiles\n' "$SERVICES" "$files" "$SERVICES"
printf 'bare tools per directory:      %.3fs  (kubeconform + kube-score + tollgate lint, %d times each)\n' "$T_BARE" "$SERVICES"
printf 'tollgate run (one process):    %.3fs  (inputs discovered)\n' "$T_TG"
RATIO=$(calc "$T_TG / $T_BARE")
printf 'ratio tollgate/bare:           %.2f (target <= %s)\n' "$RATIO" "$MAX_RATIO"
if awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
  echo "FAIL: tollgate run is more than ${MAX_RATIO}x the time of the bare tools" >&2
  exit 1
fi
