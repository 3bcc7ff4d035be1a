package discover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/config"
)

type report struct {
	Passed   bool     `json:"passed"`
	ExitCode int      `json:"exit_code"`
	Error    string   `json:"error"`
	Skipped  []string `json:"skipped"`
	Stages   []struct {
		Stage    string `json:"stage"`
		Status   string `json:"status"`
		Error    string `json:"error"`
		Findings []struct {
			Rule     string            `json:"rule"`
			Severity string            `json:"severity"`
			Message  string            `json:"message"`
			File     string            `json:"file"`
			Line     int               `json:"line"`
			Resource string            `json:"resource"`
			Blocking bool              `json:"blocking"`
			Extra    map[string]string `json:"extra"`
		} `json:"findings"`
	} `json:"stages"`
}

// tollgate runs the CLI in-process: exit code, parsed JSON report, stderr.
func tollgate(t *testing.T, args ...string) (int, report, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), append(args, "--format", "json", "--progress", "plain"), &out, &errb)
	var r report
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s\nstderr: %s", err, out.String(), errb.String())
		}
	}
	return code, r, errb.String()
}

// TestRunMicroservices is issue 7's "must show": with no tollgate.yaml, `tollgate run` on a tree
// shaped like a real microservices repository discovers every Dockerfile and manifest set,
// renders the kustomize base once (through its overlays) and the Helm chart, skips the
// non-Kubernetes YAML beside the manifests with one note each, points every finding at a real
// file and line, and exits by the findings (1: the legacy Dockerfile pipes curl into sh, the
// cart Deployment has no resources).
func TestRunMicroservices(t *testing.T) {
	root := fixture(t, "microservices")
	withNoise(t, root)
	out := t.TempDir()
	code, rep, stderr := tollgate(t, "run", root, "--out", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (gates failed by findings)\nstderr: %s", code, stderr)
	}
	for _, want := range []string{"discovered 4 Dockerfiles", "2 kustomizations (kustomize/overlays/dev, kustomize/overlays/prod)", "1 Helm chart (charts/storefront)", "1 manifest directory (deploy)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("discovery summary lacks %q:\n%s", want, stderr)
		}
	}
	status := map[string]string{}
	var notes []string
	files := map[string]bool{} // files with findings
	perSource := map[string]int{}
	for _, s := range rep.Stages {
		status[s.Stage] = s.Status
		for _, f := range s.Findings {
			if f.Line < 1 {
				t.Errorf("%s %s: %s has no line", s.Stage, f.Rule, f.File)
			}
			if fi, err := os.Stat(filepath.Join(root, f.File)); err != nil || fi.IsDir() {
				t.Errorf("%s %s: location %q is not a file of the project", s.Stage, f.Rule, f.File)
			}
			files[f.File] = true
			if f.Rule == "K8S-NOT-CHECKED" {
				notes = append(notes, f.File)
				if f.Blocking || f.Severity != "INFO" {
					t.Errorf("note on %s is %s, blocking %v", f.File, f.Severity, f.Blocking)
				}
			}
			if s.Stage == "score" {
				perSource[f.Rule+" "+f.File+" "+f.Message]++
			}
		}
	}
	if want := map[string]string{"lint": "fail", "validate": "pass", "score": "fail", "policy": "fail", "sbom": "skipped", "scan": "skipped"}; !equal(status, want) {
		t.Errorf("stages %v, want %v", status, want)
	}
	sort.Strings(notes)
	if want := "deploy/cloudbuild.yaml,deploy/docker-compose.override.yml,deploy/values-prod.yaml"; strings.Join(notes, ",") != want {
		t.Errorf("notes on %v, want one each on %s", notes, want)
	}
	for _, f := range []string{"src/legacy/Dockerfile", "kustomize/base/cart.yaml", "charts/storefront/templates/deployment.yaml"} {
		if !files[f] {
			t.Errorf("no finding on %s (findings on %v)", f, files)
		}
	}
	for k, n := range perSource {
		if n > 1 {
			t.Errorf("%q reported %d times: the base is rendered through two overlays but is one source", k, n)
		}
	}
	// The cart Deployment of both overlays is one problem in the base, reported once.
	found := false
	for _, s := range rep.Stages {
		for _, f := range s.Findings {
			if s.Stage == "score" && f.Rule == "container-resources" && f.File == "kustomize/base/cart.yaml" {
				found = true
				if f.Line != 1 || f.Extra["resources"] != "Deployment/shop-dev/cart,Deployment/shop-prod/cart" {
					t.Errorf("container-resources at line %d for %q, want line 1 for both overlays' cart", f.Line, f.Extra["resources"])
				}
			}
		}
	}
	if !found {
		t.Error("no container-resources finding on kustomize/base/cart.yaml")
	}
	if len(rep.Skipped) != 2 || !strings.HasPrefix(rep.Skipped[0], "sbom (") || !strings.HasPrefix(rep.Skipped[1], "scan (") {
		t.Errorf("skipped %v, want sbom and scan with why", rep.Skipped)
	}
	// SARIF: every result points at a file with a region, never a directory.
	b, err := os.ReadFile(filepath.Join(out, "tollgate.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	var sarif struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }     `json:"artifactLocation"`
						Region           *struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &sarif); err != nil {
		t.Fatal(err)
	}
	results := 0
	for _, r := range sarif.Runs {
		for _, res := range r.Results {
			results++
			for _, l := range res.Locations {
				pl := l.PhysicalLocation
				if pl.Region == nil || pl.Region.StartLine < 1 {
					t.Errorf("SARIF result at %s has no region", pl.ArtifactLocation.URI)
				}
				if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(pl.ArtifactLocation.URI))); err != nil || fi.IsDir() {
					t.Errorf("SARIF location %q is not a file", pl.ArtifactLocation.URI)
				}
			}
		}
	}
	if results == 0 {
		t.Error("SARIF has no results")
	}
}

// TestRunNothingCheckable: the same tree without its Dockerfiles and manifests (compose, CI,
// Skaffold, Helm values and package files only) checks nothing, and says so with exit 2.
func TestRunNothingCheckable(t *testing.T) {
	root := fixture(t, "microservices")
	for _, p := range []string{"src/cart/Dockerfile", "src/catalog/Dockerfile", "src/frontend/Dockerfile", "src/legacy/Dockerfile",
		"kustomize", "charts/storefront/Chart.yaml", "charts/storefront/templates", "deploy/namespaces.yaml"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	code, rep, stderr := tollgate(t, "run", root, "--out", "")
	if code != 2 || rep.Passed || rep.ExitCode != 2 {
		t.Fatalf("exit %d (JSON passed %v, exit_code %d), want 2\nstderr: %s", code, rep.Passed, rep.ExitCode, stderr)
	}
	if !strings.Contains(rep.Error, "nothing to check") || !strings.Contains(stderr, "nothing to check") {
		t.Errorf("JSON error %q / stderr do not say nothing to check:\n%s", rep.Error, stderr)
	}
	for _, s := range rep.Stages {
		if s.Status != "skipped" {
			t.Errorf("%s: %s, want skipped", s.Stage, s.Status)
		}
	}
}

// TestInit: `tollgate init` writes a tollgate.yaml from discovery that the strict loader reads,
// folds the services' Dockerfiles into one glob, refuses to overwrite without --force, and a
// run with the written file checks what discovery would have.
func TestInit(t *testing.T) {
	root := fixture(t, "microservices")
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), []string{"init", root}, &out, &errb); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	dst := filepath.Join(root, "tollgate.yaml")
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(dst, b)
	if err != nil {
		t.Fatalf("the written config does not load strictly: %v\n%s", err, b)
	}
	if err := cfg.ExpandGlobs(root); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Lint.Dockerfiles, ","); got != "src/cart/Dockerfile,src/catalog/Dockerfile,src/frontend/Dockerfile,src/legacy/Dockerfile" {
		t.Errorf("lint.dockerfiles expands to %s", got)
	}
	if !strings.Contains(string(b), `"src/*/Dockerfile"`) {
		t.Errorf("Dockerfiles not folded into a glob:\n%s", b)
	}
	if got := strings.Join(cfg.Validate.Paths, ","); got != "charts/storefront,deploy,kustomize/overlays/dev,kustomize/overlays/prod" {
		t.Errorf("validate.paths = %s", got)
	}
	if !strings.Contains(string(b), "# kustomization") || !strings.Contains(string(b), "# Helm chart") {
		t.Errorf("entries are not commented:\n%s", b)
	}
	// Not overwritten without --force.
	if err := os.WriteFile(dst, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := cli.Main(context.Background(), []string{"init", root}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--force") {
		t.Errorf("init over an existing file: exit %d, %q; want 2 naming --force", code, errb.String())
	}
	if b, _ := os.ReadFile(dst); string(b) != "version: 1\n" {
		t.Error("existing tollgate.yaml was changed")
	}
	if code := cli.Main(context.Background(), []string{"init", "--force", root}, &out, &errb); code != 0 {
		t.Fatalf("init --force: exit %d", code)
	}
	// The written config drives the same run as discovery.
	code, rep, stderr := tollgate(t, "run", root, "--out", "", "--stages", "lint,validate,score")
	if code != 1 || strings.Contains(stderr, "discovered") {
		t.Errorf("run with the written config: exit %d, want 1 without discovery\n%s", code, stderr)
	}
	for _, s := range rep.Stages {
		if s.Status == "error" || s.Status == "skipped" {
			t.Errorf("%s: %s %s", s.Stage, s.Status, s.Error)
		}
	}
	// An empty project gets a file too, every section commented out, still loadable.
	empty := t.TempDir()
	if code := cli.Main(context.Background(), []string{"init", empty}, &out, &errb); code != 0 {
		t.Fatalf("init on an empty dir: exit %d", code)
	}
	b, _ = os.ReadFile(filepath.Join(empty, "tollgate.yaml"))
	if _, err := config.Parse("tollgate.yaml", b); err != nil {
		t.Errorf("empty project's config does not load: %v\n%s", err, b)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestPolicyAloneDiscovers: `tollgate policy` with no config judges the same objects as `run`
// does — discovered manifest sets, the Helm chart rendered — not nothing.
func TestPolicyAloneDiscovers(t *testing.T) {
	root := fixture(t, "microservices")
	code, rep, stderr := tollgate(t, "policy", "-C", root, "--out", "")
	if code != 1 || len(rep.Stages) != 1 || rep.Stages[0].Status != "fail" {
		t.Fatalf("exit %d, stages %+v; want the policy gate to fail on the fixture's findings\n%s", code, rep.Stages, stderr)
	}
	files := map[string]bool{}
	for _, f := range rep.Stages[0].Findings {
		files[f.File] = true
	}
	for _, want := range []string{"kustomize/base/cart.yaml", "charts/storefront/templates/deployment.yaml"} {
		if !files[want] {
			t.Errorf("no policy finding on %s (findings on %v)", want, files)
		}
	}
}

// TestPolicyNothingDiscovered: with no manifests anywhere, `tollgate policy` says what it looked
// for, like validate and score, and exits 2 (nothing checked).
func TestPolicyNothingDiscovered(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, rep, stderr := tollgate(t, "policy", "-C", dir, "--out", "")
	if code != 2 || len(rep.Stages) != 1 || rep.Stages[0].Status != "skipped" ||
		!strings.Contains(rep.Stages[0].Error, "no Kubernetes manifests found (looked for kustomizations") {
		t.Fatalf("exit %d, stages %+v; want 2 with policy skipped for no manifests\n%s", code, rep.Stages, stderr)
	}
}
