package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var (
	fixtureStart  = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	fixtureExpiry = time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
)

// fixtureRun is the fixed run every golden file is rendered from. It covers each case a report
// must handle: a finding with file and line, one with only a resource, suppressed findings (one
// with an expiry), text that needs escaping, a failed, an errored, a skipped and a clean stage.
func fixtureRun() *model.Run {
	return &model.Run{
		Version:  "0.1.0",
		Source:   "/src/app",
		Started:  fixtureStart,
		Duration: 4200 * time.Millisecond,
		Stages: []*model.StageResult{
			{
				Stage:    "lint",
				Status:   model.StatusFail,
				Tool:     model.Tool{Name: "tollgate-lint", Version: "0.1.0"},
				Duration: 120 * time.Millisecond,
				Summary:  "1 finding(s) at or above HIGH (worst HIGH)",
				Rules: []model.Rule{
					{ID: "TG001", Name: "NoLatestTag", Severity: model.SeverityHigh, Summary: "Base images must be pinned to a tag or digest other than latest.", Fix: "Pin the base image, e.g. FROM alpine:3.20.", URL: "https://tollgate.dev/rules/TG001"},
					{ID: "TG002", Name: "NoRootUser", Severity: model.SeverityMedium, Summary: "Containers should not run as root."},
				},
				Findings: []model.Finding{
					{Stage: "lint", RuleID: "TG002", Severity: model.SeverityMedium, Title: "Runs as root", Message: "no USER instruction | the image runs as root\nadd a USER", Location: model.Location{File: "Dockerfile", Line: 12}, Fix: "Add USER 65532."},
					{Stage: "lint", RuleID: "TG001", Severity: model.SeverityHigh, Title: "Unpinned base image", Message: "FROM alpine:latest is not pinned | use a tag\nor a digest", Location: model.Location{File: "Dockerfile", Line: 1}, Fix: "Pin the base image, e.g. FROM alpine:3.20.", URL: "https://tollgate.dev/rules/TG001", Blocking: true},
					{Stage: "lint", RuleID: "TG003", Severity: model.SeverityLow, Title: "ADD used for a local file", Message: "use COPY instead of ADD", Location: model.Location{File: "build/web app/Dockerfile", Line: 4}, Suppression: &model.Suppression{Kind: "config", Reason: "legacy build, tracked in JIRA-12", Expires: fixtureExpiry}},
				},
			},
			{
				Stage:    "scan",
				Status:   model.StatusFail,
				Tool:     model.Tool{Name: "trivy", Version: "v0.74.0"},
				Duration: 3100 * time.Millisecond,
				Summary:  "1 finding(s) at or above HIGH (worst CRITICAL)",
				Findings: []model.Finding{
					{Stage: "scan", RuleID: "CVE-2024-0001", Severity: model.SeverityCritical, Title: "openssl: buffer overflow", Message: "openssl 3.1.0 has CVE-2024-0001 (<script> in a header), fixed in 3.1.5", Location: model.Location{Resource: "registry.local/app:1.0 (alpine 3.19)"}, Fix: "Upgrade openssl to 3.1.5", URL: "https://avd.aquasec.com/nvd/cve-2024-0001", Extra: map[string]string{"package": "openssl", "installed": "3.1.0", "fixed": "3.1.5"}, Blocking: true},
					{Stage: "scan", RuleID: "CVE-2024-0002", Severity: model.SeverityHigh, Title: "busybox: <script> in wget", Message: "busybox 1.36 has CVE-2024-0002", Location: model.Location{Resource: "registry.local/app:1.0 (alpine 3.19)"}, Suppression: &model.Suppression{Kind: "vex", Reason: "vulnerable_code_not_in_execute_path"}},
				},
			},
			{
				Stage:     "validate",
				Status:    model.StatusError,
				Tool:      model.Tool{Name: "kubeconform", Version: "v0.8.0"},
				Duration:  800 * time.Millisecond,
				Error:     "kubeconform: signal: killed (timeout after 2m0s)",
				ErrorKind: model.ErrKindTool,
				Findings:  []model.Finding{},
			},
			{
				Stage:    "sign",
				Status:   model.StatusSkipped,
				Tool:     model.Tool{Name: "cosign", Version: "v2.6.5"},
				Error:    "no signing key configured",
				Findings: []model.Finding{},
			},
			{
				Stage:    "score",
				Status:   model.StatusPass,
				Tool:     model.Tool{Name: "kube-score", Version: "v1.20.0"},
				Duration: 150 * time.Millisecond,
				Summary:  "no findings at or above HIGH",
				Findings: []model.Finding{},
			},
		},
	}
}

// infoRun is a lint run on a repository of many Dockerfiles: one informational rule fires in
// each of them, beside a few findings that matter.
func infoRun() *model.Run {
	st := &model.StageResult{Stage: "lint", Status: model.StatusFail, Tool: model.Tool{Name: "tollgate-lint", Version: "1"},
		Duration: 40 * time.Millisecond, Summary: "1 finding(s) at or above HIGH (worst HIGH)"}
	for i := range 12 {
		st.Findings = append(st.Findings, model.Finding{Stage: "lint", RuleID: "TG-DF-060", Severity: model.SeverityInfo, Title: "no-healthcheck",
			Message: "the final stage has no HEALTHCHECK", Location: model.Location{File: fmt.Sprintf("src/svc%02d/Dockerfile", i), Line: 1 + i%3}})
	}
	st.Findings = append(st.Findings,
		model.Finding{Stage: "lint", RuleID: "UndefinedVar", Severity: model.SeverityInfo, Title: "UndefinedVar", Message: "Usage of undefined variable '$GOPATH'", Location: model.Location{File: "src/svc03/Dockerfile", Line: 7}},
		model.Finding{Stage: "lint", RuleID: "UndefinedVar", Severity: model.SeverityInfo, Title: "UndefinedVar", Message: "Usage of undefined variable '$HOME'", Location: model.Location{File: "src/svc05/Dockerfile", Line: 9}},
		model.Finding{Stage: "lint", RuleID: "StageNameCasing", Severity: model.SeverityInfo, Title: "StageNameCasing", Message: "Stage name 'Build' should be lowercase", Location: model.Location{File: "src/svc01/Dockerfile", Line: 1}},
		model.Finding{Stage: "lint", RuleID: "TG-DF-030", Severity: model.SeverityHigh, Title: "pipe-to-shell", Message: "RUN pipes a curl download into an interpreter without verifying it", Location: model.Location{File: "src/svc04/Dockerfile", Line: 5}, Blocking: true},
		model.Finding{Stage: "lint", RuleID: "TG-DF-036", Severity: model.SeverityMedium, Title: "download-unverified", Message: "RUN downloads https://example.com/jq with curl to /usr/bin/jq; nothing in the RUN checks its checksum or signature", Location: model.Location{File: "src/svc02/Dockerfile", Line: 4}},
	)
	return &model.Run{Version: "0.1.0", Started: fixtureStart, Duration: 100 * time.Millisecond, Stages: []*model.StageResult{st}}
}

// cleanRun is a run where every stage passed and found nothing.
func cleanRun() *model.Run {
	return &model.Run{
		Version:  "0.1.0",
		Started:  fixtureStart,
		Duration: 1500 * time.Millisecond,
		Stages: []*model.StageResult{
			{Stage: "lint", Status: model.StatusPass, Tool: model.Tool{Name: "tollgate-lint", Version: "0.1.0"}, Duration: 100 * time.Millisecond, Findings: []model.Finding{}},
			{Stage: "validate", Status: model.StatusPass, Tool: model.Tool{Name: "kubeconform", Version: "v0.8.0"}, Duration: 300 * time.Millisecond, Findings: []model.Finding{}},
			{Stage: "sign", Status: model.StatusSkipped, Error: "no signing key configured", Findings: []model.Finding{}},
		},
	}
}

func render(t *testing.T, format string, run *model.Run) []byte {
	t.Helper()
	b, err := Render(format, run)
	if err != nil {
		t.Fatalf("Render(%s): %v", format, err)
	}
	return b
}

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run `go test ./internal/report -update` to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run with -update after checking the change)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		format string
		run    func() *model.Run
		file   string
	}{
		{"table", fixtureRun, "fixture.txt"},
		{"json", fixtureRun, "fixture.json"},
		{"sarif", fixtureRun, "fixture.sarif"},
		{"junit", fixtureRun, "fixture.junit.xml"},
		{"markdown", fixtureRun, "fixture.md"},
		{"table", cleanRun, "clean.txt"},
		{"json", cleanRun, "clean.json"},
		{"sarif", cleanRun, "clean.sarif"},
		{"junit", cleanRun, "clean.junit.xml"},
		{"markdown", cleanRun, "clean.md"},
		{"table", infoRun, "info.txt"},
		{"junit", infoRun, "info.junit.xml"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := render(t, tc.format, tc.run())
			golden(t, tc.file, got)
			// Rendering twice gives the same bytes: no map order or clock leaks in.
			if again := render(t, tc.format, tc.run()); !bytes.Equal(got, again) {
				t.Errorf("%s output is not deterministic", tc.format)
			}
		})
	}
}

func TestNew(t *testing.T) {
	names := map[string]bool{}
	for _, f := range Formats() {
		w, err := New(f)
		if err != nil {
			t.Fatalf("New(%q): %v", f, err)
		}
		if names[w.FileName()] {
			t.Errorf("two formats write %s", w.FileName())
		}
		names[w.FileName()] = true
	}
	if w, err := New("MD"); err != nil || w.FileName() != "summary.md" {
		t.Errorf("New(MD) = %v, %v; want the markdown writer", w, err)
	}
	_, err := New("html")
	if err == nil || !strings.Contains(err.Error(), "unknown report format") {
		t.Errorf("New(html) error = %v, want unknown report format", err)
	}
	if _, err := Render("html", fixtureRun()); err == nil {
		t.Error("Render(html) succeeded")
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	paths, err := WriteAll(dir, fixtureRun())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(Formats()) {
		t.Fatalf("wrote %d files, want %d", len(paths), len(Formats()))
	}
	for i, f := range Formats() {
		got, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := render(t, f, fixtureRun()); !bytes.Equal(got, want) {
			t.Errorf("%s: file content differs from Render(%s)", paths[i], f)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != len(Formats()) {
		t.Errorf("reports dir holds %v, want exactly the %d reports (no temp files)", names, len(Formats()))
	}

	// Writing again replaces the files in place.
	if _, err := WriteAll(dir, cleanRun()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !bytes.Equal(got, render(t, "markdown", cleanRun())) {
		t.Error("second WriteAll did not replace summary.md")
	}
}

func TestWriteAllFailureLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	// A directory where a report should go makes the rename fail.
	if err := os.Mkdir(filepath.Join(dir, "tollgate.sarif"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths, err := WriteAll(dir, fixtureRun())
	if err == nil {
		t.Fatal("WriteAll succeeded although tollgate.sarif is a directory")
	}
	if !strings.Contains(err.Error(), "tollgate.sarif") {
		t.Errorf("error %q does not name the file", err)
	}
	if len(paths) != 2 {
		t.Errorf("returned %v; want the two files written before the failure", paths)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}

	// A file where the directory should be is an error too.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAll(filepath.Join(blocker, "reports"), fixtureRun()); err == nil {
		t.Error("WriteAll into a path under a regular file succeeded")
	}
}
