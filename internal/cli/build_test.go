package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// runReport is the parts of tollgate.json the build tests read.
type runReport struct {
	ExitCode int `json:"exit_code"`
	Stages   []struct {
		Stage     string `json:"stage"`
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorKind string `json:"error_kind"`
		Findings  []struct {
			Rule     string            `json:"rule"`
			Severity string            `json:"severity"`
			Resource string            `json:"resource"`
			Extra    map[string]string `json:"extra"`
		} `json:"findings"`
		Artifacts []struct {
			Name string `json:"name"`
			Path string `json:"path"`
			Type string `json:"type"`
		} `json:"artifacts"`
	} `json:"stages"`
}

func decodeRun(t *testing.T, out string) *runReport {
	t.Helper()
	var r runReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	return &r
}

func (r *runReport) stage(t *testing.T, name string) int {
	t.Helper()
	for i, s := range r.Stages {
		if s.Stage == name {
			return i
		}
	}
	t.Fatalf("no %s stage in the report", name)
	return -1
}

func (r *runReport) statuses() map[string]string {
	m := map[string]string{}
	for _, s := range r.Stages {
		m[s.Stage] = s.Status + " " + s.Error
	}
	return m
}

func base() string {
	return buildFx.registry + "/" + testimage.BuilderRepository + ":" + testimage.BuilderTag
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunDemoBuildBuildsScansAndPushes is the README's build demo: fixtures/demo-build is built
// with the private BuildKit, described and scanned, and pushed once every gate passed; the scan
// read the very image that was built and pushed.
func TestRunDemoBuildBuildsScansAndPushes(t *testing.T) {
	needBuildFixtures(t)
	out := t.TempDir()
	repo := buildFx.registry + "/demo/hello"
	code, stdout, stderr := tollgate(t, "run", filepath.Join(fixtures, "demo-build"), "--build-arg", "REGISTRY="+buildFx.registry,
		"--push-repository", repo, "--offline-db", buildFx.db, "--out", out, "--format", "json", "--progress", "plain")
	r := decodeRun(t, stdout)
	if code != 0 {
		t.Fatalf("exit %d, stages %v\nstderr: %s", code, r.statuses(), stderr)
	}
	for _, s := range []string{"build", "lint", "sbom", "scan", "push"} {
		if st := r.Stages[r.stage(t, s)].Status; st != "pass" {
			t.Errorf("%s: %s", s, st)
		}
	}
	b := r.Stages[r.stage(t, "build")]
	if len(b.Artifacts) != 1 || !strings.HasPrefix(b.Artifacts[0].Name, "image sha256:") {
		t.Fatalf("build artifacts %+v", b.Artifacts)
	}
	digest := strings.TrimPrefix(b.Artifacts[0].Name, "image ")
	p := r.Stages[r.stage(t, "push")]
	if len(p.Artifacts) == 0 || p.Artifacts[0].Path != repo+"@"+digest {
		t.Fatalf("push artifacts %+v, want %s@%s", p.Artifacts, repo, digest)
	}
	if !strings.Contains(stderr, "pushed "+repo+"@"+digest) {
		t.Errorf("the pushed digest is not printed: %s", stderr)
	}
	tagged, err := remote.Head(ref(t, repo+":demo"))
	if err != nil || tagged.Digest.String() != digest {
		t.Fatalf("registry tag demo -> %v (%v), want %s", tagged, err, digest)
	}
	// The scan saw the built image: trivy's image ID is the config digest of the pushed image.
	img, err := remote.Image(ref(t, repo+"@"+digest))
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest, _ := img.ConfigName()
	var trivy struct {
		Metadata struct {
			ImageID string   `json:"ImageID"`
			DiffIDs []string `json:"DiffIDs"`
		} `json:"Metadata"`
		Results []struct {
			Packages []struct {
				Name string `json:"Name"`
			} `json:"Packages"`
		} `json:"Results"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "trivy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &trivy); err != nil {
		t.Fatal(err)
	}
	if trivy.Metadata.ImageID != cfgDigest.String() {
		t.Errorf("trivy scanned image %s, the pushed image's config is %s", trivy.Metadata.ImageID, cfgDigest)
	}
	// The SBOM describes the built image by its digest and lists what the RUN step installed.
	sbom, err := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ca-certificates-bundle", "express", digest} {
		if !strings.Contains(string(sbom), want) {
			t.Errorf("SBOM lacks %q", want)
		}
	}
}

// TestRunStepPackagesFailTheScanAndBlockThePush builds a Dockerfile whose RUN step installs
// vulnerable packages on a clean base: sbom and scan find them, the scan gate fails and the
// image is not pushed.
func TestRunStepPackagesFailTheScanAndBlockThePush(t *testing.T) {
	needBuildFixtures(t)
	dir := t.TempDir()
	repo := buildFx.registry + "/vuln/app"
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM "+base()+"\n"+
		"RUN apk-add libcrypto3 3.1.4-r0 openssl && apk-add libssl3 3.1.4-r0 openssl && npm-add lodash 4.17.15 /usr/src/app\n"+
		"USER 10001\n")
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "build: {}\npush:\n  repository: "+repo+"\n  insecure: true\n")
	out := t.TempDir()
	code, stdout, stderr := tollgate(t, "run", dir, "--stages", "build,sbom,scan,push", "--offline-db", buildFx.db,
		"--out", out, "--format", "json", "--progress", "none")
	r := decodeRun(t, stdout)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (scan gate): %v\n%s", code, r.statuses(), stderr)
	}
	found := map[string]bool{}
	for _, f := range r.Stages[r.stage(t, "scan")].Findings {
		found[f.Rule+" "+f.Extra["package"]] = true
	}
	for _, want := range []string{"CVE-2024-5535 libcrypto3", "CVE-2024-5535 libssl3", "CVE-2021-23337 lodash"} {
		if !found[want] {
			t.Errorf("scan did not find %s (found %v)", want, found)
		}
	}
	sbom, _ := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	for _, want := range []string{"libcrypto3", "lodash"} {
		if !strings.Contains(string(sbom), want) {
			t.Errorf("SBOM lacks %s installed by the RUN step", want)
		}
	}
	p := r.Stages[r.stage(t, "push")]
	if p.Status != "skipped" || !strings.Contains(p.Error, "gates did not pass") {
		t.Errorf("push: %s %s, want skipped because the scan failed", p.Status, p.Error)
	}
	if tags, err := remote.List(ref(t, repo+":x").Context()); err == nil && len(tags) > 0 {
		t.Errorf("the image reached the registry: %v", tags)
	}
}

func TestBuildFailuresExitCodes(t *testing.T) {
	needBuildFixtures(t)
	tests := []struct {
		name       string
		dockerfile string
		extra      []string
		code       int
		want       []string
	}{
		{"failing RUN is bad input", "FROM " + base() + "\nRUN echo step-one && fail tests-failed-here\n", nil, 2,
			[]string{"Dockerfile:2", "exit code: 3", "tests-failed-here"}},
		{"hang past build.timeout is a tool error", "FROM " + base() + "\nRUN sleep 120\n", []string{"--build-timeout", "3s"}, 3,
			[]string{"build.timeout", "RUN sleep 120"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "Dockerfile"), tt.dockerfile)
			start := time.Now()
			code, _, stderr := tollgate(t, append([]string{"build", dir, "--out", "", "--progress", "none"}, tt.extra...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if d := time.Since(start); d > 90*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestPushFaultsExitCodes(t *testing.T) {
	needBuildFixtures(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n")
	writeFile(t, filepath.Join(dir, "a.txt"), "a\n")
	// Nothing built, nothing given: bad usage.
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "push:\n  repository: "+buildFx.registry+"/x/y\n  insecure: true\n")
	if code, _, stderr := tollgate(t, "push", "-C", dir, "--out", "", "--progress", "none"); code != 2 || !strings.Contains(stderr, "nothing to push") {
		t.Errorf("push without an image: exit %d %s", code, stderr)
	}
	// A registry that refuses connections: a tool error, quickly, and nothing reported as pushed.
	addr, stop, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	start := time.Now()
	code, stdout, stderr := tollgate(t, "run", dir, "--stages", "build,push", "--push-repository", addr+"/x/y", "--push-timeout", "5s",
		"--out", "", "--format", "json", "--progress", "none")
	r := decodeRun(t, stdout)
	if code != 3 {
		t.Fatalf("silent registry: exit %d, want 3: %v %s", code, r.statuses(), stderr)
	}
	if p := r.Stages[r.stage(t, "push")]; p.Status != "error" || len(p.Artifacts) != 0 {
		t.Errorf("push %s with artifacts %v", p.Status, p.Artifacts)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("an unreachable registry took %s", d)
	}
}

// TestDemoDoesNotBuildByDefault: the first README command builds nothing heavy: build and the
// release stages are opt-in and the demo sets none of them up, so they are not in the run.
func TestDemoDoesNotBuildByDefault(t *testing.T) {
	code, stdout, stderr := tollgate(t, "run", filepath.Join(fixtures, "demo"), "--out", "", "--format", "json", "--progress", "none")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	r := decodeRun(t, stdout)
	var names []string
	for _, s := range r.Stages {
		names = append(names, s.Stage)
	}
	if got := strings.Join(names, ","); got != "lint,validate,score,policy,sbom,scan" {
		t.Errorf("default run of the demo has stages %s, want the gates only", got)
	}
}
