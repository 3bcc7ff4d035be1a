package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fixtures = filepath.Join("..", "..", "fixtures")

func TestLintThroughCLI(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantRule string
		wantLine int
	}{
		{"root final stage fails", []string{"lint", filepath.Join(fixtures, "bad", "lint", "tg-df-010-root-final", "Dockerfile")}, 1, "TG-DF-010", 8},
		{"latest tag fails", []string{"lint", filepath.Join(fixtures, "bad", "lint", "tg-df-001-latest", "Dockerfile")}, 1, "TG-DF-001", 0},
		{"fail-on CRITICAL lets HIGH pass", []string{"lint", "--fail-on", "CRITICAL", filepath.Join(fixtures, "bad", "lint", "tg-df-010-root-final", "Dockerfile")}, 0, "TG-DF-010", 0},
		{"demo passes", []string{"lint", "-C", filepath.Join(fixtures, "demo")}, 0, "", 0},
		{"parse error is bad input", []string{"lint", filepath.Join(fixtures, "bad", "lint", "input-parse-error", "Dockerfile")}, 2, "", 0},
		{"empty Dockerfile is bad input", []string{"lint", filepath.Join(fixtures, "bad", "lint", "input-empty", "Dockerfile")}, 2, "", 0},
		{"missing Dockerfile is bad input", []string{"lint", filepath.Join(t.TempDir(), "Dockerfile")}, 2, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--format", "json", "--out", "", "--progress", "none")
			code, out, stderr := tollgate(t, args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, stderr)
			}
			r := decodeReport(t, out)
			if len(r.Stages) != 1 || r.Stages[0].Stage != "lint" || r.Stages[0].Tool.Name == "" {
				t.Fatalf("stages = %+v", r.Stages)
			}
			if *r.Passed != (tt.wantCode == 0) {
				t.Errorf("passed = %v with exit %d", *r.Passed, code)
			}
			if tt.wantCode == 2 && (r.Stages[0].Status != "error" || !strings.Contains(stderr, "Dockerfile")) {
				t.Errorf("bad input: status %s, stderr %q (must name the file)", r.Stages[0].Status, stderr)
			}
			if tt.wantRule == "" {
				return
			}
			found := false
			for _, f := range r.Stages[0].Findings {
				if f.Rule == tt.wantRule && (tt.wantLine == 0 || f.Line == tt.wantLine) && strings.HasSuffix(f.File, "Dockerfile") && f.Severity != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s finding at line %d in %+v", tt.wantRule, tt.wantLine, r.Stages[0].Findings)
			}
		})
	}
}

func TestRunWritesEveryReport(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := tollgate(t, "run", filepath.Join(fixtures, "demo"), "--stages", "lint", "--out", out, "--progress", "plain", "--format", "markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"report.txt", "tollgate.json", "tollgate.sarif", "junit.xml", "summary.md"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	if stdout != string(md) {
		t.Error("--format markdown stdout differs from summary.md")
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []any  `json:"runs"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "tollgate.sarif"))
	if err := json.Unmarshal(b, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Errorf("sarif: %v %+v", err, sarif)
	}
	// Plain progress (not a terminal): one line per start and per result, on stderr.
	if !strings.Contains(stderr, "lint started") || !strings.Contains(stderr, "lint PASS") {
		t.Errorf("plain progress lines missing from stderr: %q", stderr)
	}
}

func TestConfigFileDrivesGate(t *testing.T) {
	dir := t.TempDir()
	df, err := os.ReadFile(filepath.Join(fixtures, "bad", "lint", "tg-df-010-root-final", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "Dockerfile"), string(df))
	args := []string{"run", dir, "--stages", "lint", "--out", "", "--format", "json", "--progress", "none"}
	if code, _, stderr := tollgate(t, args...); code != 1 {
		t.Fatalf("root final stage: exit %d, want 1: %s", code, stderr)
	}
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "ignore:\n  - id: TG-DF-010\n    reason: legacy image, tracked in JIRA-1\n    expires: 2999-01-01\n")
	if code, out, stderr := tollgate(t, args...); code != 0 {
		t.Fatalf("ignored: exit %d, want 0: %s %s", code, stderr, out)
	}
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "ignore:\n  - id: TG-DF-010\n    reason: legacy image\n    expires: 2020-01-01\n")
	if code, _, stderr := tollgate(t, args...); code != 1 {
		t.Fatalf("expired ignore: exit %d, want 1: %s", code, stderr)
	}
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "gate:\n  fail-on: CRITICAL\n")
	if code, _, stderr := tollgate(t, args...); code != 0 {
		t.Fatalf("fail-on CRITICAL in config: exit %d, want 0: %s", code, stderr)
	}
	// The flag overrides the file.
	if code, _, stderr := tollgate(t, append(args, "--fail-on", "HIGH")...); code != 1 {
		t.Fatalf("--fail-on HIGH over config CRITICAL: exit %d, want 1: %s", code, stderr)
	}
}

func TestFailOnFlagOverridesStageThreshold(t *testing.T) {
	dir := t.TempDir()
	df, err := os.ReadFile(filepath.Join(fixtures, "bad", "lint", "tg-df-010-root-final", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "Dockerfile"), string(df))
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "lint:\n  fail-on: CRITICAL\n")
	args := []string{"lint", "-C", dir, "--out", "", "--progress", "none"}
	if code, _, stderr := tollgate(t, args...); code != 0 {
		t.Fatalf("lint.fail-on CRITICAL: exit %d, want 0: %s", code, stderr)
	}
	if code, _, stderr := tollgate(t, append(args, "--fail-on", "HIGH")...); code != 1 {
		t.Fatalf("--fail-on HIGH must override lint.fail-on: exit %d, want 1: %s", code, stderr)
	}
}

func TestLiveProgressRedraws(t *testing.T) {
	code, _, stderr := tollgate(t, "lint", "-C", filepath.Join(fixtures, "demo"), "--out", "", "--progress", "live")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The live view moves the cursor up and clears lines to redraw the stage block in place.
	if !strings.Contains(stderr, "\x1b[2K") || !strings.Contains(stderr, "lint") || !strings.Contains(stderr, "✓") {
		t.Errorf("no live view on stderr: %q", stderr)
	}
	if strings.Contains(stderr, "lint started") {
		t.Error("live view also printed plain lines")
	}
}

// A project where no stage finds anything to check is not a pass: exit 2, "nothing to check"
// and how to point Tollgate at inputs, in the table, the JSON and on stderr.
func TestNothingToCheckAndConfiguredMissingInputs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-compose.yml"), "services:\n  web: {image: nginx}\n")
	writeFile(t, filepath.Join(dir, "README.md"), "# nothing to deploy\n")
	code, out, stderr := tollgate(t, "run", dir, "--out", "", "--progress", "none", "--format", "json")
	if code != 2 {
		t.Fatalf("empty project: exit %d, want 2: %s", code, stderr)
	}
	rep := decodeReport(t, out)
	if *rep.Passed || rep.ExitCode != 2 || !strings.Contains(rep.Error, "nothing to check") || !strings.Contains(rep.Error, "tollgate init") {
		t.Errorf("JSON: passed %v, exit_code %d, error %q; want a failed run saying nothing to check and how to point at inputs", *rep.Passed, rep.ExitCode, rep.Error)
	}
	for _, s := range rep.Stages {
		if s.Status != "skipped" || !strings.Contains(s.Error, "nothing to check") && !strings.Contains(s.Error, "no image") {
			t.Errorf("%s: status %s (%s), want skipped with the reason", s.Stage, s.Status, s.Error)
		}
	}
	if !strings.Contains(stderr, "tollgate: nothing to check") {
		t.Errorf("stderr does not say nothing to check: %s", stderr)
	}
	code, out, _ = tollgate(t, "run", dir, "--out", "", "--progress", "none")
	if code != 2 || !strings.Contains(out, "Result: FAIL (exit 2): nothing to check") {
		t.Errorf("table: exit %d, want the FAIL line with nothing to check:\n%s", code, out)
	}
	// Paths the user named must exist: a typo is bad input, not a silent skip.
	writeFile(t, filepath.Join(dir, "tollgate.yaml"), "validate:\n  paths: [manifests]\nlint:\n  dockerfiles: [build/Dockerfile]\n")
	code, out, stderr = tollgate(t, "run", dir, "--stages", "lint,validate", "--out", "", "--progress", "none", "--format", "json")
	if code != 2 {
		t.Fatalf("configured missing inputs: exit %d, want 2: %s", code, stderr)
	}
	for _, s := range decodeReport(t, out).Stages {
		if s.Status != "error" {
			t.Errorf("%s: status %s, want error", s.Stage, s.Status)
		}
	}
	if !strings.Contains(stderr, "manifests") || !strings.Contains(stderr, "build/Dockerfile") {
		t.Errorf("errors do not name the missing paths: %s", stderr)
	}
}
