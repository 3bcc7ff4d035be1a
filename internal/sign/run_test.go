package sign_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.email=ci@tollgate.test", "-c", "user.name=ci", "-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// `tollgate run` with signing configured signs, attests and verifies after the gates pass: the
// SBOM and the scan report (kept in the run's scratch dir, as --out is empty) become
// attestations, and Tollgate's SLSA provenance records the source revision and every stage.
// With a failing gate nothing is signed.
func TestRunSignsAttestsVerifiesAfterTheGates(t *testing.T) {
	need(t)
	for _, name := range []string{"syft", "trivy"} {
		if _, err := (&tools.Installer{CacheDir: fx.cache, AutoInstall: true, Progress: os.Stderr}).Ensure(context.Background(), name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	db := t.TempDir()
	if err := trivydb.Build(context.Background(), filepath.Join("..", "..", "fixtures", "advisories"), db, time.Now()); err != nil {
		t.Fatal(err)
	}
	img, err := testimage.Clean()
	if err != nil {
		t.Fatal(err)
	}
	digest := push(t, fx.reg.Host, "team/run:1", img, nil)
	ref := fx.reg.Host + "/team/run:1"
	pinned := fx.reg.Host + "/team/run@" + digest

	dir := project(t, fmt.Sprintf(`version: 1
stages: [lint, sbom, scan, sign, attest, verify]
lint:
  dockerfiles: [Dockerfile]
scan:
  image: %[1]s
  db: {offline: true, cache-dir: %[2]s}
sign:
  image: %[1]s
  key: %[3]s
  tlog-upload: false
  allow-http-registry: true
verify:
  key: %[4]s
  tlog: false
  allow-http-registry: true
  require:
    - {type: sbom, max-age: 1d}
    - {type: spdxjson}
    - {type: cyclonedx}
    - {type: vuln, max-age: 1d, fail-on: HIGH}
    - {type: provenance, max-age: 1h}
`, ref, db, fx.key, fx.pub))
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM alpine:3.19@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b\nUSER 10001\nHEALTHCHECK CMD true\n"), 0o644)
	git(t, dir, "init", "-q")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "app")
	git(t, dir, "remote", "add", "origin", "https://ci-token:glpat-secret@git.example/team/app.git")
	rev := git(t, dir, "rev-parse", "HEAD")

	r := tollgateIn(nil, dir, keyEnv(), "run", ".", "--format", "json", "--out", "", "--progress", "none", "--no-install")
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	for _, s := range []string{"lint", "sbom", "scan", "sign", "attest", "verify"} {
		if st, why := r.stage(s); st != "pass" {
			t.Fatalf("stage %s: %s (%s)\n%s", s, st, why, r)
		}
	}

	// Read the provenance back the way a verifier would, with the real cosign.
	root := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(root, []byte(cosign.EmptyTrustedRoot), 0o600)
	res, err := tools.Run(context.Background(), "cosign", tools.Cmd{Path: fx.cosign, Timeout: time.Minute,
		Args: []string{"verify-attestation", "--key", fx.pub, "--insecure-ignore-tlog=true", "--trusted-root", root, "--type", "slsaprovenance1", pinned}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("verify-attestation: %v %s", err, res.Stderr)
	}
	sts, err := cosign.ParseAttestations(res.Stdout)
	if err != nil || len(sts) != 1 {
		t.Fatalf("statements %v err %v", len(sts), err)
	}
	var prov struct {
		BuildDefinition struct {
			ExternalParameters struct {
				Source struct{ Repository, Revision string }
				Image  struct{ Reference string }
			} `json:"externalParameters"`
			ResolvedDependencies []struct{ Name, URI string } `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Metadata   struct{ StartedOn, FinishedOn time.Time } `json:"metadata"`
			Byproducts []struct {
				Name        string
				Annotations map[string]any
			} `json:"byproducts"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(sts[0].Predicate, &prov); err != nil {
		t.Fatal(err)
	}
	ext := prov.BuildDefinition.ExternalParameters
	if ext.Source.Revision != rev || ext.Source.Repository != "https://git.example/team/app.git" || ext.Image.Reference != pinned {
		t.Errorf("provenance source %+v image %+v; want revision %s, the remote without credentials and %s", ext.Source, ext.Image, rev, pinned)
	}
	var stages []string
	for _, b := range prov.RunDetails.Byproducts {
		stages = append(stages, b.Name+"="+fmt.Sprint(b.Annotations["status"]))
	}
	if got := strings.Join(stages, ","); got != "stage/lint=pass,stage/sbom=pass,stage/scan=pass,stage/sign=pass" {
		t.Errorf("provenance byproducts %s", got)
	}
	var deps []string
	for _, d := range prov.BuildDefinition.ResolvedDependencies {
		deps = append(deps, d.URI)
	}
	for _, want := range []string{"pkg:golang/github.com/anchore/syft@v1.57.1", "pkg:golang/github.com/aquasecurity/trivy@v0.74.0", "pkg:golang/github.com/sigstore/cosign/v2@v2.6.5"} {
		if !strings.Contains(strings.Join(deps, " "), want) {
			t.Errorf("resolved dependencies %q lack %s", deps, want)
		}
	}
	m := prov.RunDetails.Metadata
	if m.StartedOn.IsZero() || m.FinishedOn.Before(m.StartedOn) || time.Since(m.StartedOn) > 10*time.Minute {
		t.Errorf("provenance times %+v", m)
	}

	// A failing gate: the release stages are skipped and the new image stays unsigned.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM alpine:latest\n"), 0o644)
	push(t, fx.reg.Host, "team/run:1", small(t), nil)
	r = tollgateIn(nil, dir, keyEnv(), "run", ".", "--format", "json", "--out", "", "--progress", "none", "--no-install", "--stages", "lint,sign,attest,verify")
	if r.code != 1 {
		t.Fatalf("run with a failing lint gate: %s", r)
	}
	for _, s := range []string{"sign", "attest", "verify"} {
		if st, why := r.stage(s); st != "skipped" || !strings.Contains(why, "gates did not pass") {
			t.Errorf("stage %s: %s (%s), want skipped after the failed gate", s, st, why)
		}
	}
	r = tollgate(t, dir, nil, "verify", ref)
	if r.code != 1 || !strings.Contains(strings.Join(r.rules("verify"), ","), "VERIFY001") {
		t.Fatalf("the image after a failed gate must be unsigned: %s", r)
	}
}
