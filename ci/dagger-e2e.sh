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
# and `crane` on PATH. Without them those cases are skipped, and say so.
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
trap 'rm -rf "$WORK"' EXIT
LOG=$WORK/last.log
pass=0 fail=0 skip=0
started=$(date +%s)

ok()   { echo "ok   $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; tail -25 "$LOG" | sed 's/^/     | /'; fail=$((fail + 1)); }
skip() { echo "skip $1 ($2)"; skip=$((skip + 1)); }

# dg DIR ARGS...: run dagger in DIR (plain progress, output in $LOG); returns dagger's status.
dg() { local dir=$1; shift; (cd "$dir" && dagger --progress=plain "$@") >"$LOG" 2>&1; }
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
  if logged '^run ' && logged '^scan ' && logged '^sbom ' && ! logged '^pipeline ' && ! logged '^config ' && ! logged '^source ' &&
    ! grep -q 'unsupported types: .*\(run\|pipeline\)' "$LOG"; then
    ok "dagger functions lists run, sbom, scan; no pipeline, config or source"
  else bad "dagger functions lists run, sbom, scan; no pipeline, config or source"; fi
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
    has "$R/tollgate.json" '{s["stage"]:s["status"] for s in d["stages"]}=={"lint":"pass","validate":"pass","score":"pass","sbom":"pass","scan":"fail"} and any(f["rule"]=="CVE-2024-5535" and f["blocking"] for s in d["stages"] for f in s["findings"]) and d["exit_code"]==1 and d["duration_ms"]>0' &&
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

echo "dagger-e2e: $pass passed, $fail failed, $skip skipped in $(( $(date +%s) - started ))s"
[ "$fail" -eq 0 ]
