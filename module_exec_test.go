//go:build daggerunit

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// gateStage is where every stage's outcome becomes its report: errors fail closed with their
// class, the gate decides pass or fail, durations are real, and a release stage's summary keeps
// what it released.
func TestGateStage(t *testing.T) {
	cfg := config.Default()
	tool := model.Tool{Name: "t"}
	high := []model.Finding{{RuleID: "R1", Severity: model.SeverityHigh, Message: "bad"}}
	tests := []struct {
		name     string
		stage    string
		res      *model.StageResult
		err      error
		status   string
		kind     string
		exit     int
		summary  string // substring
		duration bool   // timed from start
	}{
		{"input error", "lint", nil, &model.InputError{File: "Dockerfile", Line: 2, Err: errors.New("bad")}, "error", model.ErrKindInput, 2, "Dockerfile:2: bad", true},
		{"tool error", "scan", nil, &model.ToolError{Tool: "trivy", Err: errors.New("crashed")}, "error", model.ErrKindTool, 3, "trivy: crashed", true},
		{"plain error is a tool error", "scan", nil, errors.New("engine went away"), "error", model.ErrKindTool, 3, "engine went away", true},
		{"no result and no error fails closed", "score", nil, nil, "error", model.ErrKindTool, 3, "no result", true},
		{"finding at the threshold fails", "lint", &model.StageResult{Stage: "lint", Findings: high}, nil, "fail", "", 1, "at or above HIGH", true},
		{"no findings pass", "lint", &model.StageResult{Stage: "lint"}, nil, "pass", "", 0, "no findings", true},
		{"own duration kept", "lint", &model.StageResult{Stage: "lint", Duration: 7 * time.Second}, nil, "pass", "", 0, "no findings", false},
		{"skipped stays skipped", "sbom", &model.StageResult{Stage: "sbom", Status: model.StatusSkipped, Error: "no image"}, nil, "skipped", "", 2, "no image", true},
		{"release summary kept", "sign", &model.StageResult{Stage: "sign", Summary: "signed r@sha256:1"}, nil, "pass", "", 0, "signed r@sha256:1 (no findings)", true},
		{"gate summary for a gate stage", "sbom", &model.StageResult{Stage: "sbom", Summary: "12 packages"}, nil, "pass", "", 0, "no findings", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := gateStage(cfg, tc.stage, tool, tc.res, tc.err, time.Now().Add(-50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if r.Stage != tc.stage || r.Status != tc.status || r.ErrorKind != tc.kind || r.ExitCode != tc.exit || !strings.Contains(r.Summary, tc.summary) {
				t.Errorf("got %s %s kind %q exit %d %q", r.Stage, r.Status, r.ErrorKind, r.ExitCode, r.Summary)
			}
			if tc.duration && r.DurationMs < 50 {
				t.Errorf("not timed from start: %d ms", r.DurationMs)
			}
			if !tc.duration && tc.res != nil && r.DurationMs != int(tc.res.Duration.Milliseconds()) {
				t.Errorf("the stage's own duration was overwritten: %d ms", r.DurationMs)
			}
			if tc.name == "gate summary for a gate stage" && strings.Contains(r.Summary, "packages") {
				t.Errorf("a gate stage's summary is the gate's: %q", r.Summary)
			}
		})
	}
	// The gate's ignores apply: an ignored finding does not fail the stage.
	ignoring, err := config.Parse("tollgate.yaml", []byte("version: 1\nignore:\n  - id: R1\n    reason: accepted\n    expires: 2099-01-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := gateStage(ignoring, "lint", tool, &model.StageResult{Stage: "lint", Findings: high}, nil, time.Time{})
	if r.Status != "pass" || !strings.Contains(r.Summary, "1 suppressed") {
		t.Errorf("ignored finding: %s %q", r.Status, r.Summary)
	}
}

// An exec the engine cannot finish is a tool error (exit 3) that names the tool and never the
// module's mount points; when the stage's deadline ended it, it says so.
func TestEngineError(t *testing.T) {
	hide := map[string]string{"/tollgate/image.tar": "registry.example/app@sha256:1"}
	err := engineError(context.Background(), "trivy", errors.New("exec: open /tollgate/image.tar: EOF"), hide)
	var te *model.ToolError
	if !errors.As(err, &te) || te.Tool != "trivy" || strings.Contains(err.Error(), "/tollgate/") || !strings.Contains(err.Error(), "registry.example/app@sha256:1") {
		t.Errorf("engine failure = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = engineError(ctx, "gator", errors.New("context canceled"), nil)
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "gator: did not finish") || !errors.Is(err, context.Canceled) {
		t.Errorf("deadline = %v", err)
	}
}

// Tools run by absolute path from the pin table: several official images have no shell and
// entrypoints that differ.
func TestToolArgv(t *testing.T) {
	for _, name := range []string{"trivy", "syft", "gator", "kubeconform", "kube-score", "cosign", "helm"} {
		argv := toolArgv(name, []string{"--version"})
		if bin := tools.MustGet(name).ImageBinary; len(argv) != 2 || argv[0] != bin || !filepath.IsAbs(bin) || argv[1] != "--version" {
			t.Errorf("%s: %v", name, argv)
		}
	}
	run := &toolRun{code: 3, stdout: []byte("out"), stderr: []byte("err")}
	if r := run.result(); r.ExitCode != 3 || string(r.Stdout) != "out" || string(r.Stderr) != "err" {
		t.Errorf("result = %+v", r)
	}
}

// A scratch directory lives in the module's workdir (what the engine can mount), is readable by
// the tool images' non-root users, and its paths never reach a message.
func TestScratch(t *testing.T) {
	t.Chdir(t.TempDir())
	sc, err := newScratch("kubeconform", "validate")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.IsAbs(sc.rel) || !strings.HasPrefix(sc.rel, "tollgate-validate-") || !filepath.IsAbs(sc.abs) {
		t.Errorf("rel %q abs %q", sc.rel, sc.abs)
	}
	st, err := os.Stat(sc.rel)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("scratch dir mode: %v %v", st, err)
	}
	err = sc.scrub(&model.InputError{File: sc.path("src/k8s/a.yaml"), Line: 4, Err: errors.New("open " + sc.rel + "/cache/x: no such file")})
	if err.Error() != "src/k8s/a.yaml:4: open cache/x: no such file" {
		t.Errorf("scrubbed: %q", err)
	}
	sc.remove()
	if _, err := os.Stat(sc.rel); !os.IsNotExist(err) {
		t.Errorf("scratch dir left behind: %v", err)
	}
}
