#!/usr/bin/env bash
# Benchmark: tollgate score vs bare kube-score on the same tree of FILES manifest files (default
# 250: Deployments, StatefulSets, Services, NetworkPolicies, PodDisruptionBudgets,
# HorizontalPodAutoscalers and ConfigMaps, one object per file as most repositories keep them, a
# few files with several), with the same kube-score arguments tollgate passes. Prints the best of
# RUNS wall times of each, the load average and the ratio; exits 1 when tollgate takes more than
# MAX_RATIO (default 1.2) times bare kube-score.
#
#   ci/bench-score.sh [FILES]       (needs Go and the pinned kube-score: go run ./cmd/tollgate
#                                   tools install kube-score)
set -euo pipefail

FILES=${1:-250}
MAX_RATIO=${MAX_RATIO:-1.2}
RUNS=${RUNS:-7}
cd "$(dirname "$0")/.."
CACHE=${TOLLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate}
KS="$CACHE/tools/kube-score/v1.20.0/kube-score"
if [[ ! -x "$KS" ]]; then
  echo "kube-score not installed in $CACHE: run 'go run ./cmd/tollgate tools install kube-score'" >&2
  exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/tollgate" ./cmd/tollgate

mkdir -p "$WORK/k8s"
for ((i = 0; i < FILES; i++)); do
  app="app-$((i / 7))"
  dir="$WORK/k8s/$app"
  mkdir -p "$dir"
  case $((i % 7)) in
  0) cat >"$dir/deployment.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $app
  namespace: bench
  labels: {app: $app, team: bench}
spec:
  replicas: 3
  selector:
    matchLabels: {app: $app}
  template:
    metadata:
      labels: {app: $app, team: bench}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.example.com/$app:1.$i.0
        imagePullPolicy: Always
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: LOG_LEVEL, value: info}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: $app-db, key: password}}
        resources:
          requests: {cpu: 100m, memory: 128Mi, ephemeral-storage: 100Mi}
          limits: {cpu: 500m, memory: 256Mi, ephemeral-storage: 200Mi}
        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 5}
        livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10}
        securityContext:
          runAsUser: 10001
          runAsGroup: 10001
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
YAML
    ;;
  1) cat >"$dir/service.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $app, namespace: bench, labels: {app: $app}}
spec:
  selector: {app: $app}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
    ;;
  2) cat >"$dir/networkpolicy.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $app, namespace: bench}
spec:
  podSelector: {matchLabels: {app: $app}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: frontend}}}]
    ports: [{port: 8080}]
  egress:
  - to: [{namespaceSelector: {}}]
YAML
    ;;
  3) cat >"$dir/pdb.yaml" <<YAML
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: $app, namespace: bench}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: $app}}
YAML
    ;;
  4) cat >"$dir/hpa.yaml" <<YAML
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: $app, namespace: bench}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: $app}
  minReplicas: 3
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
YAML
    ;;
  5) cat >"$dir/configmap.yaml" <<YAML
# Configuration of $app, two documents in one file.
apiVersion: v1
kind: ConfigMap
metadata: {name: $app, namespace: bench}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: $app-extra, namespace: bench}
data: {INDEX: "$i"}
YAML
    ;;
  6) cat >"$dir/statefulset.yaml" <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $app-db, namespace: bench, labels: {app: $app-db}}
spec:
  serviceName: $app-db
  replicas: 1
  selector: {matchLabels: {app: $app-db}}
  template:
    metadata: {labels: {app: $app-db}}
    spec:
      containers:
      - name: db
        image: registry.example.com/postgres:16.3
        ports: [{containerPort: 5432}]
        resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: "1", memory: 1Gi}}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
YAML
    ;;
  esac
done
mapfile -t files < <(cd "$WORK" && find k8s -name '*.yaml' | sort)

# Warm-up, and the check that both see the same objects.
"$WORK/tollgate" score -C "$WORK" k8s --cache-dir "$CACHE" --no-cache --out "" --progress none --format json >"$WORK/tg.json" || {
  code=$?
  if ((code > 1)); then
    echo "tollgate score failed (exit $code):" >&2
    head -c 3000 "$WORK/tg.json" >&2
    exit 2
  fi
}
calc() { awk "BEGIN { print $1 }"; }
best() { # prints the best wall time in seconds of RUNS runs of "$@", then every time
  local b="" s e d r ALL=""
  for ((r = 0; r < RUNS; r++)); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
    d=$(calc "($e - $s) / 1e9")
    ALL+=" $(printf '%.3f' "$d")"
    if [[ -z "$b" ]] || [[ $(calc "($d < $b)") == 1 ]]; then b=$d; fi
  done
  echo "$b$ALL"
}
# The same arguments tollgate passes (score.Args): JSON v2, Kubernetes 1.36, the optional
# seccomp check Tollgate enables.
ks() { (cd "$WORK" && "$KS" score --output-format json --output-version v2 --color never --kubernetes-version v1.36 \
  --enable-optional-test container-seccomp-profile "${files[@]}"); }
tg() { "$WORK/tollgate" score -C "$WORK" k8s --cache-dir "$CACHE" --no-cache --out "" --progress none --format json; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
read -r T_KS ALL_KS <<<"$(best ks)"
read -r T_TG ALL_TG <<<"$(best tg)"
printf 'files:                 %d (%d documents)\n' "${#files[@]}" "$(cat "${files[@]/#/$WORK/}" | grep -c '^kind:')"
printf 'load average:          %s / %s (before / after)\n' "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'kube-score v1.20.0:    %.3fs best of %d  (all: %s)\n' "$T_KS" "$RUNS" "$ALL_KS"
printf 'tollgate score:        %.3fs best of %d  (all: %s)\n' "$T_TG" "$RUNS" "$ALL_TG"
RATIO=$(calc "$T_TG / $T_KS")
printf 'ratio tollgate/bare:   %.2fx (limit %sx)\n' "$RATIO" "$MAX_RATIO"
if awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
  echo "FAIL: tollgate score is more than ${MAX_RATIO}x bare kube-score" >&2
  exit 1
fi
