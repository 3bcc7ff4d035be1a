package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tollgate runs the CLI in-process and returns exit code, stdout and stderr.
func tollgate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad", "tollgate.yaml")
	writeFile(t, badCfg, "version: 1\nlint:\n  dockerfile: [x]\n")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown flag", []string{"run", "--nope"}, "unknown flag: --nope"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown format", []string{"run", dir, "--format", "xml", "--out", ""}, `unknown report format "xml"`},
		{"unknown stage", []string{"run", dir, "--stages", "lint,fuzz", "--out", ""}, `unknown stage "fuzz"`},
		{"missing dir", []string{"run", filepath.Join(dir, "nope"), "--out", ""}, "not a readable directory"},
		{"bad config names line", []string{"run", filepath.Dir(badCfg), "--out", ""}, badCfg + `:3: unknown key "dockerfile"`},
		{"missing explicit config", []string{"run", dir, "--config", filepath.Join(dir, "missing.yaml"), "--out", ""}, "missing.yaml"},
		{"bad fail-on", []string{"run", dir, "--fail-on", "SEVERE", "--out", ""}, "--fail-on"},
		{"unknown progress view", []string{"run", dir, "--progress", "fancy", "--out", ""}, `--progress: unknown view "fancy"`},
		{"unknown tool", []string{"tools", "install", "grype"}, `unknown tool "grype"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := tollgate(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestToolsList(t *testing.T) {
	code, out, stderr := tollgate(t, "tools", "list", "--cache-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"trivy", "syft", "cosign", "kubeconform", "kube-score", "gator", "aquasec/trivy:0.74.0"} {
		if !strings.Contains(out, name) {
			t.Errorf("tools list lacks %s:\n%s", name, out)
		}
	}
}

// jsonReport is the documented --format json contract.
type jsonReport struct {
	Version  string   `json:"version"`
	Passed   *bool    `json:"passed"`
	ExitCode int      `json:"exit_code"`
	Error    string   `json:"error"`
	Skipped  []string `json:"skipped"`
	Stages   []struct {
		Stage  string `json:"stage"`
		Status string `json:"status"`
		Error  string `json:"error"`
		Tool   struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"tool"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			File     string `json:"file"`
			Line     int    `json:"line"`
			Resource string `json:"resource"`
		} `json:"findings"`
	} `json:"stages"`
}

func decodeReport(t *testing.T, out string) jsonReport {
	t.Helper()
	var r jsonReport
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if r.Version == "" || r.Passed == nil {
		t.Fatalf("missing version/passed: %s", out)
	}
	return r
}
