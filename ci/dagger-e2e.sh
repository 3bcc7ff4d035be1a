#!/usr/bin/env bash
# End-to-end check of the Dagger module on a real engine (Dagger v0.21.8). Every case asserts
# what it claims: exported files exist and parse (SPDX, CycloneDX, the JSON report), a failing
# gate fails because of the gate and with the expected finding, and checks see the caller's
# project (a planted bad Dockerfile makes them fail). Where no engine exists it says so and exits
# 0 without testing anything; it is not part of `go test ./...`.
#
# Registry cases need a registry the host can push to and the tool containers can reach:
#   TOLLGATE_E2E_PUSH_REGISTRY  host address to push fixture images to (default: $LAB_REGISTRY)
#   TOLLGATE_E2E_REGISTRY       the same registry as containers reach it (default: $LAB_REGISTRY_BRIDGE)
# and `crane` on PATH. Deploy cases start a throwaway API server (etcd and the pinned
# kube-apiserver, internal/testcluster) on an address the engine's containers reach:
#   TOLLGATE_E2E_API_LISTEN     default: the host part of TOLLGATE_E2E_REGISTRY
# Without them those cases are skipped, and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
MOD=$(pwd)

if ! command -v dagger >/dev/null 2>&1; then
  echo "dagger-e2e: SKIPPED: no dagger CLI on PATH (install Dagger v0.21.8 and a container runtime to run it)"
  exit 0
fi
if ! dagger core version >/dev/null 2>&1; then
  echo "dagger-e2e: SKIPPED: dagger CLI found but no engine could be started"
  exit 0
fi
for tool in python3 go; do
  command -v "$tool" >/dev/null || { echo "dagger-e2e: needs $tool"; exit 2; }
done

WORK=$(mktemp -d /tmp/tollgate-e2e.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
RUN_ID="$(date +%s)-$RANDOM"
LOG=$WORK/last.log
pass=0 fail=0 skip=0
started=$(date +%s)

ok()   { echo "ok   $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; tail -25 "$LOG" | sed 's/^/     | /'; fail=$((fail + 1)); }
skip() { echo "skip $1 ($2)"; skip=$((skip + 1)); }

# dg DIR ARGS...: run dagger in DIR (plain progress, output in $LOG); returns dagger's status.
dg() {
  local dir=$1 rc=0
  shift
  (cd "$dir" && dagger --progress=plain "$@") >"$LOG" 2>&1 || rc=$?
  cat "$LOG" >>"$WORK/all.log" # every call's output, for the secret canaries at the end
  return $rc
}
# has FILE PYTHON-EXPR: the expression holds for the JSON document d in FILE.
has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>>"$LOG"; }
logged() { grep -q -- "$1" "$LOG"; }
# failed_with PATTERN: the call's final error (from "Error: " to the end; it may span lines and
# follow an export's output on the same line) matches PATTERN.
failed_with() { sed -n '/Error: /,$p' "$LOG" | grep -q -- "$1"; }

echo "== fixtures: offline trivy DB, fixture images, user projects in $WORK"
go run ./internal/trivydb/cmd/buildtestdb -cache-dir "$WORK/trivy-db" >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; exit 2; }
go run ./internal/testimage/cmd/writefixtures -out "$WORK/images" >>"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; exit 2; }
# User projects live outside the module's directory: Tollgate must check them, not itself.
mkdir -p "$WORK/demo" "$WORK/bad" "$WORK/empty"
cp -r fixtures/demo/. "$WORK/demo/"
cp -r fixtures/demo/. "$WORK/bad/"
cp fixtures/bad/lint/tg-df-010-root-final/Dockerfile "$WORK/bad/Dockerfile" # planted: final stage runs as root
echo "nothing to check here" >"$WORK/empty/README.md"

PUSH=${TOLLGATE_E2E_PUSH_REGISTRY:-${LAB_REGISTRY:-}}
PUSH=${PUSH#http://}
REG=${TOLLGATE_E2E_REGISTRY:-${LAB_REGISTRY_BRIDGE:-}}
REG=${REG#http://}
registry=""
if [ -n "$PUSH" ] && [ -n "$REG" ] && command -v crane >/dev/null; then
  for img in vulnerable clean; do
    crane push --insecure "$WORK/images/$img.tar" "$PUSH/tollgate-e2e/$img:1" >>"$WORK/setup.log" 2>&1
  done
  registry=yes
  VULN=$REG/tollgate-e2e/vulnerable:1 CLEAN=$REG/tollgate-e2e/clean:1
  echo "   fixture images at $REG/tollgate-e2e/{vulnerable,clean}:1"
else
  echo "   no registry for image cases (set TOLLGATE_E2E_PUSH_REGISTRY, TOLLGATE_E2E_REGISTRY, put crane on PATH)"
fi
needreg() { [ -n "$registry" ] || { skip "$1" "no registry"; return 1; }; }

echo "== the module's surface"
if dg "$WORK/demo" functions -m "$MOD"; then
  missing=""
  for fn in run gates build publish lint validate score policy sbom scan sign attest verify deploy; do
    logged "^$fn " || missing="$missing $fn"
  done
  if [ -z "$missing" ] && ! logged '^pipeline ' && ! logged '^config ' && ! logged '^source ' &&
    ! grep -q 'unsupported types: .*\(run\|pipeline\)' "$LOG"; then
    ok "dagger functions lists run, gates and every stage (build, publish, lint ... sign, attest, verify, deploy); no pipeline, config or source"
  else bad "dagger functions lists run, gates and every stage" "missing:$missing"; fi
else bad "dagger functions" "exit $?"; fi

echo "== -m from another project: the caller's files are checked"
rm -f "$WORK/lint.json"
if dg "$WORK/bad" -m "$MOD" -c "r=\$(lint); \$r | report --format=json | export $WORK/lint.json; \$r | check"; then
  bad "lint of a planted root Dockerfile fails the gate" "the call passed"
elif has "$WORK/lint.json" 'any(f["rule"]=="TG-DF-010" and f["blocking"] and f["file"]=="Dockerfile" for s in d["stages"] for f in s["findings"]) and d["exit_code"]==1'; then
  ok "lint of the caller's planted root Dockerfile fails the gate with TG-DF-010"
else bad "lint of a planted root Dockerfile fails the gate" "no blocking TG-DF-010 in the report"; fi

if dg "$WORK/bad" check -m "$MOD"; then
  bad "dagger check -m fails on the caller's planted Dockerfile" "passed"
elif failed_with 'lint fail (exit 1).*TG-DF-010'; then
  ok "dagger check -m from another project fails on its planted Dockerfile (TG-DF-010)"
else bad "dagger check -m fails on the caller's planted Dockerfile" "failed for another reason"; fi

# Dockerfiles away from the root: found by discovery (no tollgate.yaml), or by a glob in it.
NEST=$WORK/nested
mkdir -p "$NEST/services/api" "$NEST/services/worker"
cp "$WORK/demo/Dockerfile" "$NEST/services/api/Dockerfile"
cp fixtures/bad/lint/tg-df-010-root-final/Dockerfile "$NEST/services/worker/Dockerfile"
rm -f "$WORK/nested.json"
if dg "$NEST" -m "$MOD" -c "r=\$(lint); \$r | report --format=json | export $WORK/nested.json; \$r | check"; then
  bad "lint discovers Dockerfiles in subdirectories" "passed"
elif has "$WORK/nested.json" 'any(f["rule"]=="TG-DF-010" and f["blocking"] and f["file"]=="services/worker/Dockerfile" for s in d["stages"] for f in s["findings"])'; then
  ok "lint with no tollgate.yaml discovers services/*/Dockerfile and fails on the planted one (TG-DF-010 in services/worker/Dockerfile)"
else bad "lint discovers Dockerfiles in subdirectories" "see $WORK/nested.json"; fi
sed 's#dockerfiles: \[Dockerfile\]#dockerfiles: ["services/a*/Dockerfile"]#' "$WORK/demo/tollgate.yaml" >"$NEST/tollgate.yaml"
if dg "$NEST" call -m "$MOD" lint check; then ok "lint.dockerfiles globs expand in the source (services/a*/Dockerfile: only the good one)"
else bad "lint.dockerfiles globs expand in the source" "exit $?"; fi

if dg "$WORK/demo" check -m "$MOD"; then ok "dagger check -m passes on the demo project"
else bad "dagger check -m passes on the demo project" "exit $?"; fi

rm -rf "$WORK/demo-reports"
if dg "$WORK/demo" -m "$MOD" -c "run | reports | export $WORK/demo-reports" &&
  has "$WORK/demo-reports/tollgate.json" '[s["status"] for s in d["stages"][:3]]==["pass","pass","pass"] and d["passed"] and all(s["duration_ms"]>0 for s in d["stages"][:3])'; then
  ok "run on the demo: lint, validate and score ran on the caller's files, passed, with real durations"
else bad "run on the demo: lint, validate and score ran and passed" "see tollgate.json"; fi

if dg "$WORK/empty" check -m "$MOD"; then
  bad "dagger check on a project with nothing to check fails" "passed vacuously"
elif failed_with 'nothing to check (exit 2)' && failed_with '--source=DIR'; then
  ok "dagger check on a project with nothing to check fails, saying how to point Tollgate at inputs"
else bad "dagger check on a project with nothing to check fails" "not with 'nothing to check'"; fi

echo "== the toolchain way"
TC=$WORK/toolchain
# A local toolchain must lie inside the project, so the project gets a copy of the module (a
# published one is installed by its git address instead).
mkdir -p "$TC/.tollgate/module"
cp -r "$WORK/bad/." "$TC/"
tar -C "$MOD" --exclude=./.git --exclude=./examples -cf - . | tar -C "$TC/.tollgate/module" -xf -
if dg "$TC" init && dg "$TC" toolchain install ./.tollgate/module; then
  if dg "$TC" check; then bad "toolchain: dagger check fails on the planted Dockerfile" "passed"
  elif failed_with 'TG-DF-010'; then ok "toolchain: dagger check fails on the project's planted Dockerfile (TG-DF-010)"
  else bad "toolchain: dagger check fails on the planted Dockerfile" "failed for another reason"; fi
  cp "$WORK/demo/Dockerfile" "$TC/Dockerfile"
  if dg "$TC" check; then ok "toolchain: dagger check passes once the Dockerfile is fixed"
  else bad "toolchain: dagger check passes once the Dockerfile is fixed" "exit $?"; fi
  rm -rf "$TC/lint.sarif"
  if dg "$TC" call tollgate lint report --format=sarif export --path="$TC/lint.sarif" && has "$TC/lint.sarif" 'd["version"]=="2.1.0" and len(d["runs"])==1'; then
    ok "toolchain: dagger call tollgate lint report exports SARIF 2.1.0"
  else bad "toolchain: dagger call tollgate lint report exports SARIF"; fi
else bad "toolchain: dagger init + toolchain install" "exit $?"; fi

echo "== images: SBOM and scan (offline DB, fixture images with planted CVEs)"
if needreg "the CI script: one run keeps every report and the SBOMs, then fails on the scan gate"; then
  # The toolchain project as CI sees it: tollgate.yaml names the image and an offline DB in the
  # project, and the job runs the templates' script unchanged.
  cp -r "$WORK/trivy-db" "$TC/trivy-db"
  printf 'scan:\n  image: %s\n  db:\n    offline: true\n    cache-dir: trivy-db\n' "$VULN" >>"$TC/tollgate.yaml"
  rm -rf "$TC/tollgate-reports"
  if dg "$TC" -c 'r=$(tollgate | run); $r | reports | export tollgate-reports; $r | check'; then
    bad "the CI script fails the job on the scan gate" "passed"
  elif R=$TC/tollgate-reports &&
    has "$R/tollgate.json" '{s["stage"]:s["status"] for s in d["stages"]}=={"lint":"pass","validate":"pass","score":"pass","policy":"pass","sbom":"pass","scan":"fail"} and any(f["rule"]=="CVE-2024-5535" and f["blocking"] for s in d["stages"] for f in s["findings"]) and d["exit_code"]==1 and d["duration_ms"]>0' &&
    has "$R/sbom.spdx.json" 'd["spdxVersion"]=="SPDX-2.3" and "@sha256:" in d["name"] and len(d["packages"])>3' &&
    has "$R/sbom.cdx.json" 'd["bomFormat"]=="CycloneDX" and d["specVersion"]=="1.6" and len(d["components"])>3' &&
    has "$R/tollgate.sarif" 'd["version"]=="2.1.0"' &&
    grep -q 'Tollgate: FAIL' "$R/summary.md" && grep -q '<testsuites' "$R/junit.xml" && [ -s "$R/report.txt" ] &&
    failed_with 'scan fail (exit 1).*CVE-2024-5535'; then
    ok "the CI script (toolchain): one run exports every report and both SBOMs (subject pinned by digest), then fails on the scan gate with CVE-2024-5535"
  else bad "the CI script: reports, SBOMs and the scan gate's failure" "see $TC/tollgate-reports"; fi
  if dg "$TC" check; then bad "toolchain: dagger check scans the image tollgate.yaml names" "passed"
  elif failed_with 'scan fail (exit 1).*CVE-2024-5535'; then
    ok "toolchain: dagger check scans the image tollgate.yaml names and fails on CVE-2024-5535"
  else bad "toolchain: dagger check scans the image tollgate.yaml names" "failed for another reason"; fi
fi

if needreg "sbom exports SPDX that parses, its subject the image's digest"; then
  rm -f "$WORK/sbom.spdx.json"
  if dg "$WORK/demo" call -m "$MOD" sbom --image-ref="$VULN" spdx export --path="$WORK/sbom.spdx.json" &&
    has "$WORK/sbom.spdx.json" 'd["spdxVersion"]=="SPDX-2.3" and d["name"].startswith("'"${VULN%:1}"'@sha256:")'; then
    ok "sbom --image-ref exports SPDX 2.3 named by the pinned digest"
  else bad "sbom exports SPDX that parses, its subject the image's digest"; fi
fi

if needreg "sbom of a missing image fails, writes nothing"; then
  rm -f "$WORK/missing.spdx.json"
  if dg "$WORK/demo" call -m "$MOD" sbom --image-ref="$REG/tollgate-e2e/missing:1" spdx export --path="$WORK/missing.spdx.json"; then
    bad "sbom of a missing image fails" "exit 0"
  elif [ ! -e "$WORK/missing.spdx.json" ] && failed_with 'no SBOM: sbom: input error (exit 2)' && ! logged '<nil>'; then
    ok "sbom of a missing image fails (input error, exit class 2) and writes no file"
  else bad "sbom of a missing image fails, writes nothing"; fi
fi

if needreg "scan of a container (the engine pulls it) fails the gate with the planted CVE"; then
  if dg "$WORK/demo" call -m "$MOD" scan --image="$VULN" --offline-db="$WORK/trivy-db" check; then
    bad "scan of the vulnerable container fails the gate" "passed"
  elif failed_with 'scan fail (exit 1).*CVE-2024-5535' && ! failed_with '/tollgate/'; then
    ok "scan of a container fails the gate with CVE-2024-5535, no internal paths in the message"
  else bad "scan of the vulnerable container fails the gate" "not the gate, or an internal path"; fi
fi

if needreg "scan of the clean image passes"; then
  if dg "$WORK/demo" call -m "$MOD" scan --image-ref="$CLEAN" --offline-db="$WORK/trivy-db" check; then ok "scan of the clean image passes its gate"
  else bad "scan of the clean image passes" "exit $?"; fi
fi

if dg "$WORK/demo" call -m "$MOD" scan --image-ref=127.0.0.1:5000/app:1 check; then bad "scan of a 127.0.0.1 reference is refused" "passed"
elif failed_with 'loopback' && failed_with 'input error (exit 2)'; then ok "scan of a 127.0.0.1 reference is refused as input, naming the loopback problem"
else bad "scan of a 127.0.0.1 reference is refused"; fi

if dg "$WORK/demo" call -m "$MOD" scan --image-ref=registry.example/app:1 --registry-username=ci check; then bad "scan: a username without a password is refused" "passed"
elif failed_with 'go together'; then ok "scan: a username without a password is refused, like sbom"
else bad "scan: a username without a password is refused"; fi

if needreg "registry password stays secret"; then
  export TOLLGATE_E2E_CANARY="canary-$RANDOM-$RANDOM-secret"
  dg "$WORK/demo" call -m "$MOD" scan --image-ref="$CLEAN" --offline-db="$WORK/trivy-db" \
    --registry-username=ci --registry-password=env://TOLLGATE_E2E_CANARY report --format=json contents || true
  if grep -q "$TOLLGATE_E2E_CANARY" "$LOG"; then bad "registry password stays secret" "the canary is in the output"
  elif logged '"stage": "scan"'; then ok "scan with a registry password: the canary appears nowhere in the output"
  else bad "registry password stays secret" "the scan did not run"; fi
fi

echo "== policy (gator in its image, Pod Security Standards)"
if dg "$WORK/demo" call -m "$MOD" policy check; then ok "policy passes on the demo"
else bad "policy passes on the demo" "exit $?"; fi

mkdir -p "$WORK/privileged"
cp -r fixtures/policy/bad/tg-no-privileged/. "$WORK/privileged/"
rm -f "$WORK/policy.json"
if dg "$WORK/privileged" -m "$MOD" -c "r=\$(policy); \$r | report --format=json | export $WORK/policy.json; \$r | check"; then
  bad "policy fails on a privileged pod" "passed"
elif has "$WORK/policy.json" 'any(f["rule"]=="K8sTGNoPrivileged/tg-no-privileged" and f["blocking"] and f["file"]=="app.yaml" for s in d["stages"] for f in s["findings"]) and d["exit_code"]==1' &&
  failed_with 'policy fail (exit 1).*K8sTGNoPrivileged/tg-no-privileged'; then
  ok "policy fails on the discovered privileged pod (app.yaml) with K8sTGNoPrivileged/tg-no-privileged"
else bad "policy fails on a privileged pod with K8sTGNoPrivileged/tg-no-privileged" "see $WORK/policy.json"; fi

echo "== build and publish (the engine's BuildKit, the registry)"
# The build demo's Dockerfile, unchanged, on the fixture base image, which the registry serves
# as $REG/tollgate-e2e/tollgate/base:3.19 (the REGISTRY build arg). Its RUN step "installs"
# packages that the SBOM then lists. The project also holds the demo's manifests, their image
# in the repository the run pushes to (deploy pins it to the pushed digest).
APP=$WORK/app
if [ -n "$registry" ]; then
  go build -o "$WORK/serveregistry" ./internal/testimage/cmd/serveregistry
  "$WORK/serveregistry" -addr 127.0.0.1:0 >"$WORK/serveregistry.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do grep -q serving "$WORK/serveregistry.log" && break; sleep 0.2; done
  fixreg=$(sed -n 's|.* on http://\([^ ]*\) .*|\1|p' "$WORK/serveregistry.log")
  crane copy --insecure "$fixreg/tollgate/base:3.19" "$PUSH/tollgate-e2e/tollgate/base:3.19" >>"$WORK/setup.log" 2>&1
  mkdir -p "$APP"
  cp -r fixtures/demo-build/. "$APP/"
  cp -r fixtures/demo/k8s "$APP/k8s"
  sed -i "s#image: registry.example.com/demo/hello:#image: $REG/tollgate-e2e/app:#" "$APP/k8s/deployment.yaml"
  cat >"$APP/tollgate.yaml" <<YAML
version: 1
build:
  dockerfile: Dockerfile
  build-args:
    REGISTRY: $REG/tollgate-e2e
validate:
  paths: [k8s]
policy:
  constraints:
    tg-allowed-registries:
      parameters:
        registries: [$REG/tollgate-e2e]
ignore:
  - id: TG-DF-002
    stage: lint
    reason: the fixture base image is pinned by tag in a test registry
    expires: 2099-12-31
YAML
fi

if needreg "publish pushes the build and returns repo@sha256:... that the tag names"; then
  if dg "$APP" call -m "$MOD" publish --repository="$REG/tollgate-e2e/app" --tags="publish-$RUN_ID"; then
    ref=$(grep -o "$REG/tollgate-e2e/app@sha256:[0-9a-f]\{64\}" "$LOG" | tail -1)
    tagged=$(crane digest --insecure "$PUSH/tollgate-e2e/app:publish-$RUN_ID" 2>>"$LOG" || true)
    if [ -n "$ref" ] && [ "${ref#*@}" = "$tagged" ]; then ok "publish pushes the build and returns $REG/tollgate-e2e/app@<the digest the tag names>"
    else bad "publish returns repo@sha256:... that the tag names" "returned '$ref', the tag names '$tagged'"; fi
  else bad "publish pushes the build" "exit $?"; fi
fi

echo "== sign, attest, verify (cosign in its image; keys as secrets; no transparency log offline)"
KEYS=$WORK/keys
export E2E_KEY_PASSWORD="e2e-key-$RANDOM-$RANDOM"
signed="" unsigned=""
if [ -n "$registry" ]; then
  mkdir -p "$KEYS"
  TOLLGATE_COSIGN_PASSWORD=$E2E_KEY_PASSWORD go run ./cmd/tollgate keys generate -C "$KEYS" --prefix signer >>"$WORK/setup.log" 2>&1
  TOLLGATE_COSIGN_PASSWORD=other-$RANDOM go run ./cmd/tollgate keys generate -C "$KEYS" --prefix other >>"$WORK/setup.log" 2>&1
  # Fresh digests for this run (a label makes them unique): no signature from an earlier run.
  for name in signed unsigned; do
    crane mutate --insecure "$PUSH/tollgate-e2e/clean:1" --label "tollgate.e2e.run=$RUN_ID-$name" -t "$PUSH/tollgate-e2e/$name:$RUN_ID" >>"$WORK/setup.log" 2>&1
  done
  signed=$REG/tollgate-e2e/signed:$RUN_ID
  unsigned=$REG/tollgate-e2e/unsigned@$(crane digest --insecure "$PUSH/tollgate-e2e/unsigned:$RUN_ID")
fi

if needreg "sign by digest with a key secret"; then
  if dg "$WORK/demo" call -m "$MOD" sign --image-ref="$signed" --key="file://$KEYS/signer.key" --key-password=env://E2E_KEY_PASSWORD \
    --tlog-upload=false --allow-http-registry summary && logged "signed $REG/tollgate-e2e/signed@sha256:[0-9a-f]\{64\} with the key secret"; then
    ok "sign resolves the tag and signs $REG/tollgate-e2e/signed by digest with the key secret"
  else bad "sign by digest with a key secret"; fi
fi

if needreg "attest SLSA provenance"; then
  if dg "$WORK/demo" call -m "$MOD" attest --image-ref="$signed" --key="file://$KEYS/signer.key" --key-password=env://E2E_KEY_PASSWORD \
    --tlog-upload=false --allow-http-registry summary && logged "attested slsaprovenance1 to $REG/tollgate-e2e/signed@sha256:"; then
    ok "attest attaches Tollgate's SLSA provenance to the digest"
  else bad "attest SLSA provenance"; fi
fi

if needreg "verify signature and provenance with the right key"; then
  if dg "$WORK/demo" call -m "$MOD" verify --image-refs="$signed" --public-key="$KEYS/signer.pub" --require=slsaprovenance1:1h \
    --insecure-ignore-tlog --allow-http-registry check; then ok "verify passes: signature, and a provenance younger than 1h, under the signer's key"
  else bad "verify signature and provenance with the right key" "exit $?"; fi
fi

if needreg "verify with another key fails"; then
  if dg "$WORK/demo" call -m "$MOD" verify --image-refs="$signed" --public-key="$KEYS/other.pub" --insecure-ignore-tlog --allow-http-registry check; then
    bad "verify with another key fails" "passed"
  elif failed_with 'verify fail (exit 1).*VERIFY00[12]'; then ok "verify under another key fails the gate (VERIFY001/002)"
  else bad "verify with another key fails" "not with a verify finding"; fi
fi

if needreg "verify of an unsigned image fails"; then
  if dg "$WORK/demo" call -m "$MOD" verify --image-refs="$unsigned" --public-key="$KEYS/signer.pub" --insecure-ignore-tlog --allow-http-registry check; then
    bad "verify of an unsigned image fails" "passed"
  elif failed_with 'verify fail (exit 1).*VERIFY001'; then ok "verify of an unsigned image fails the gate with VERIFY001"
  else bad "verify of an unsigned image fails" "not with VERIFY001"; fi
fi

echo "== deploy (client-go in the module runtime, a throwaway API server)"
API_LISTEN=${TOLLGATE_E2E_API_LISTEN:-${REG%%:*}}
cluster=""
if [ -n "$API_LISTEN" ]; then
  if go build -o "$WORK/testapiserver" ./internal/testcluster/cmd/testapiserver 2>>"$WORK/setup.log"; then
    "$WORK/testapiserver" -listen "$API_LISTEN" -kubeconfig "$WORK/kubeconfig" >"$WORK/apiserver.log" 2>&1 &
    apipid=$!
    pids+=("$apipid")
    for _ in $(seq 1 300); do [ -s "$WORK/kubeconfig" ] && break; kill -0 "$apipid" 2>/dev/null || break; sleep 1; done
  fi
  if [ -s "$WORK/kubeconfig" ]; then
    cluster=yes
    echo "   API server at $(sed -n 's/.*server: //p' "$WORK/kubeconfig" | head -1)"
  else
    echo "   the test API server did not start on $API_LISTEN:"
    tail -5 "$WORK/apiserver.log" 2>/dev/null | sed 's/^/   | /'
  fi
fi
needcluster() { [ -n "$cluster" ] || { skip "$1" "no API server the engine reaches (TOLLGATE_E2E_API_LISTEN)"; return 1; }; }

if needcluster "deploy dry-run of the demo"; then
  rm -f "$WORK/deploy.json"
  if dg "$WORK/demo" call -m "$MOD" deploy --kubeconfig="file://$WORK/kubeconfig" --verify=false --dry-run report --format=json export --path="$WORK/deploy.json" &&
    has "$WORK/deploy.json" 'd["stages"][0]["status"]=="pass" and any(f["rule"]=="TG-DEPLOY-002" for f in d["stages"][0]["findings"])'; then
    ok "deploy --dry-run of the demo passes, and says loudly that images were not verified (TG-DEPLOY-002)"
  else bad "deploy dry-run of the demo" "see $WORK/deploy.json"; fi
fi

if needcluster "deploy: the API server rejects an invalid object"; then
  mkdir -p "$WORK/deploy-fixtures"
  cp -r fixtures/deploy/. "$WORK/deploy-fixtures/"
  if dg "$WORK/deploy-fixtures" call -m "$MOD" deploy --kubeconfig="file://$WORK/kubeconfig" --paths=invalid --namespace=default --verify=false check; then
    bad "deploy: the API server rejects an invalid object" "passed"
  elif failed_with 'deploy fail (exit 1).*TG-DEPLOY-001'; then ok "deploy of an invalid object fails with the server's rejection (TG-DEPLOY-001)"
  else bad "deploy: the API server rejects an invalid object" "not with TG-DEPLOY-001"; fi
fi

if needcluster "deploy refuses an unsigned image" && needreg "deploy refuses an unsigned image"; then
  mkdir -p "$WORK/unsigned-app"
  cp -r fixtures/demo/. "$WORK/unsigned-app/"
  sed -i "s#image: registry.example.com/demo/hello:1.4.2@sha256:[0-9a-f]*#image: $unsigned#" "$WORK/unsigned-app/k8s/deployment.yaml"
  if dg "$WORK/unsigned-app" call -m "$MOD" deploy --kubeconfig="file://$WORK/kubeconfig" --dry-run --public-key="$KEYS/signer.pub" \
    --insecure-ignore-tlog --allow-http-registry check; then
    bad "deploy refuses an unsigned image" "passed"
  elif failed_with 'deploy fail (exit 1).*VERIFY001'; then ok "deploy verifies images first and refuses the unsigned one (VERIFY001)"
  else bad "deploy refuses an unsigned image" "not with VERIFY001"; fi
fi

echo "== run with the release stages: build, gates, push, sign, attest, verify, deploy (dry-run)"
if needreg "run releases end to end" && needcluster "run releases end to end"; then
  R=$WORK/run-reports
  rm -rf "$R"
  if dg "$APP" call -m "$MOD" run --offline-db="$WORK/trivy-db" --repository="$REG/tollgate-e2e/app" --tags="run-$RUN_ID" \
    --signing-key="file://$KEYS/signer.key" --signing-key-password=env://E2E_KEY_PASSWORD --public-key="$KEYS/signer.pub" \
    --tlog=false --allow-http-registry --kubeconfig="file://$WORK/kubeconfig" --dry-run \
    --source-repository=https://example.com/e2e/app --source-revision="$RUN_ID" reports export --path="$R"; then
    tagged=$(crane digest --insecure "$PUSH/tollgate-e2e/app:run-$RUN_ID" 2>>"$LOG" || true)
    pushed="$REG/tollgate-e2e/app@$tagged"
    if [ -n "$tagged" ] &&
      has "$R/tollgate.json" '[(s["stage"],s["status"]) for s in d["stages"]]==[(n,"pass") for n in "build lint validate score policy sbom scan push sign attest verify deploy".split()] and d["passed"] and d["exit_code"]==0' &&
      has "$R/pushed.json" 'd["reference"]=="'"$pushed"'"' &&
      has "$R/signed.json" 'd["reference"]=="'"$pushed"'" and not d["tlog"]' &&
      has "$R/attested.json" 'd["reference"]=="'"$pushed"'" and {"slsaprovenance1","vuln","spdxjson","cyclonedx"} <= {p["type"] for p in d["predicates"]}' &&
      has "$R/provenance.slsa.json" 'd["buildDefinition"]["externalParameters"]["image"]["reference"]=="'"$pushed"'" and d["buildDefinition"]["externalParameters"]["source"]["revision"]=="'"$RUN_ID"'" and d["buildDefinition"]["externalParameters"]["stages"]==["build","lint","validate","score","policy","sbom","scan","push","sign"]' &&
      has "$R/sbom.spdx.json" 'any(p["name"]=="express" for p in d["packages"]) and any(p["name"]=="ca-certificates-bundle" for p in d["packages"])' &&
      has "$R/deploy.json" 'd["dry_run"] and any(x.endswith(" -> '"$pushed"'") for x in d["pinned"])' &&
      has "$R/tollgate.json" 'any(f["rule"]=="VERIFY006" for s in d["stages"] if s["stage"]=="deploy" for f in s["findings"])'; then
      ok "run: built, gated, pushed $pushed, signed, attested (SBOMs, vuln, the run's provenance), verified, deployed (dry-run, pinned to the digest, images verified)"
    else bad "run releases end to end" "see $R"; fi
    # Independently: the native runner verifies, from the host, what the module signed and attested.
    if [ -n "$tagged" ] && go run ./cmd/tollgate verify "$PUSH/tollgate-e2e/app@$tagged" --public-key "$KEYS/signer.pub" \
      --require slsaprovenance1:1h --require vuln --insecure-ignore-tlog --allow-http-registry --out "" --progress plain >"$WORK/native-verify.log" 2>&1; then
      ok "the native tollgate verify accepts the module's signature and attestations (provenance, vuln) on the pushed digest"
    else bad "the native tollgate verify accepts the module's signature" "$(tail -3 "$WORK/native-verify.log")"; fi
  else bad "run releases end to end" "exit $?"; fi
fi

if needreg "a failed gate releases nothing"; then
  NEG=$WORK/app-neg
  cp -r "$APP" "$NEG"
  cp fixtures/policy/bad/tg-no-privileged/app.yaml "$NEG/k8s/privileged.yaml"
  R=$WORK/neg-reports
  rm -rf "$R"
  if dg "$NEG" call -m "$MOD" run --offline-db="$WORK/trivy-db" --repository="$REG/tollgate-e2e/app" --tags="neg-$RUN_ID" \
    --signing-key="file://$KEYS/signer.key" --signing-key-password=env://E2E_KEY_PASSWORD --tlog=false --allow-http-registry \
    reports export --path="$R" &&
    has "$R/tollgate.json" '(lambda s: s["policy"]["status"]=="fail" and all(s[n]["status"]=="skipped" and "every gate" in s[n]["error"] for n in ("push","sign","attest")))({x["stage"]:x for x in d["stages"]}) and not d["passed"] and d["exit_code"]==1' &&
    [ ! -e "$R/pushed.json" ] && ! crane digest --insecure "$PUSH/tollgate-e2e/app:neg-$RUN_ID" >/dev/null 2>&1; then
    ok "run with a failing gate (policy) releases nothing: push, sign and attest skipped, no tag pushed"
  else bad "a failed gate releases nothing" "see $R"; fi
fi

echo "== a module of your own that imports Tollgate (examples/scan-own-build)"
if needreg "example module gates its own container"; then
  if dg "$MOD/examples/scan-own-build" call gate --base="$VULN" --offline-db="$WORK/trivy-db"; then
    bad "example: gate fails on a vulnerable base" "passed"
  elif failed_with 'scan fail (exit 1).*CVE-2024-5535'; then
    ok "example module: Scan of its own built container fails the gate with CVE-2024-5535"
  else bad "example: gate fails on a vulnerable base" "not the gate"; fi
  if dg "$MOD/examples/scan-own-build" call gate --base="$CLEAN" --offline-db="$WORK/trivy-db" && logged 'Tollgate: PASS'; then
    ok "example module: a clean base passes and returns the summary"
  else bad "example: gate passes on a clean base"; fi
fi

echo "== serve-image (tollgate serve's image: no shell, nonroot, the pinned scanners preinstalled)"
if dg "$WORK/demo" call -m "$MOD" serve-image with-exec --use-entrypoint --args=tools,list stdout; then
  if logged 'syft .* yes .*/opt/tollgate/tools/syft/' && logged 'trivy .* yes .*/opt/tollgate/tools/trivy/'; then
    ok "serve-image runs tollgate as its entrypoint and finds the pinned syft and trivy installed"
  else bad "serve-image finds the pinned scanners installed" "tools list does not show syft and trivy installed under /opt/tollgate"; fi
else bad "serve-image | with-exec tools list" "exit $?"; fi
if dg "$WORK/demo" call -m "$MOD" serve-image user && logged '65532:65532'; then
  ok "serve-image runs as the nonroot user 65532"
else bad "serve-image runs as nonroot" "user is not 65532:65532"; fi

echo "== secrets"
if [ -n "$registry" ]; then
  if grep -q -- "$E2E_KEY_PASSWORD" "$WORK/all.log"; then bad "the signing key's password appears in no output" "it does"
  elif grep -q -- "$(sed -n 2p "$KEYS/signer.key")" "$WORK/all.log"; then bad "the signing key appears in no output" "it does"
  else ok "neither the signing key nor its password appears in any call's output"; fi
fi
if [ -n "$cluster" ]; then
  token=$(sed -n 's/.*token: //p' "$WORK/kubeconfig" | head -1)
  if [ -n "$token" ] && ! grep -q -- "$token" "$WORK/all.log"; then ok "the kubeconfig's bearer token appears in no call's output"
  else bad "the kubeconfig's bearer token appears in no output" "found, or no token to look for"; fi
fi

echo "dagger-e2e: $pass passed, $fail failed, $skip skipped in $(( $(date +%s) - started ))s"
[ "$fail" -eq 0 ]
