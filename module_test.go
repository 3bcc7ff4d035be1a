//go:build daggerunit

// Unit tests of the Dagger module's pure parts. The generated bindings connect to an engine
// session at init, so these run with a dummy session and a build tag:
//
//	DAGGER_SESSION_PORT=1 DAGGER_SESSION_TOKEN=unit go test -tags daggerunit .
package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestStageReportRoundTrip(t *testing.T) {
	res := &model.StageResult{Stage: "lint", Status: model.StatusFail, Summary: "1 finding(s) at or above HIGH",
		Tool: model.Tool{Name: "tollgate-lint", Version: "1"}, Duration: 1500 * time.Millisecond,
		Findings: []model.Finding{
			{RuleID: "R1", Severity: model.SeverityHigh, Message: "bad", Location: model.Location{File: "Dockerfile", Line: 4}, Blocking: true},
			{RuleID: "R2", Severity: model.SeverityLow, Message: "meh", Suppression: &model.Suppression{Kind: "inline", Reason: "ok"}},
		}}
	sr, err := newStageReport(res)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Passed() || sr.Check() == nil || !strings.HasSuffix(sr.Check().Error(), "lint fail (exit 1): 1 finding(s) at or above HIGH: R1") {
		t.Errorf("failed stage passes: %+v", sr)
	}
	if sr.ExitCode != 1 || sr.ErrorKind != "" || sr.DurationMs != 1500 {
		t.Errorf("exit %d kind %q duration %d", sr.ExitCode, sr.ErrorKind, sr.DurationMs)
	}
	if len(sr.Findings) != 1 || sr.Findings[0].Rule != "R1" || sr.Findings[0].Line != 4 || !sr.Findings[0].Blocking {
		t.Errorf("findings = %+v", sr.Findings)
	}
	back, err := sr.result()
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != 2 || back.Findings[1].Suppression == nil || back.Duration != res.Duration {
		t.Errorf("round trip lost data: %+v", back)
	}
}

// Issue 8: a Dagger call cannot exit 2 or 3, so the report carries the class of the error.
func TestStageReportErrorKinds(t *testing.T) {
	tests := []struct {
		err      error
		kind     string
		exitCode int
	}{
		{&model.ToolError{Tool: "trivy", Err: errFake{}}, model.ErrKindTool, model.ExitTool},
		{&model.InputError{File: "k8s/app.yaml", Line: 3, Err: errFake{}}, model.ErrKindInput, model.ExitUsage},
	}
	for _, tc := range tests {
		sr, err := newStageReport(model.ErrorResult("scan", model.Tool{Name: "trivy"}, tc.err))
		if err != nil {
			t.Fatal(err)
		}
		if sr.Passed() || sr.ErrorKind != tc.kind || sr.ExitCode != tc.exitCode || !strings.Contains(sr.Summary, "boom") {
			t.Errorf("%T: %+v", tc.err, sr)
		}
		msg := sr.Check().Error()
		if !strings.Contains(msg, "scan: "+tc.kind+" error (exit ") {
			t.Errorf("check message %q does not carry the error class", msg)
		}
		var j struct {
			ErrorKind string `json:"error_kind"`
		}
		if err := json.Unmarshal([]byte(sr.ResultJSON), &j); err != nil || j.ErrorKind != tc.kind {
			t.Errorf("result JSON lost the error kind: %s", sr.ResultJSON)
		}
	}
}

// A skipped stage checked nothing: its own check fails (exit 2), but it does not fail a run in
// which other stages ran (Passed).
func TestStageReportSkipped(t *testing.T) {
	sr := skipped("lint", "nothing to check: Dockerfile not found (set lint.dockerfiles in tollgate.yaml)")
	if !sr.Passed() || sr.ExitCode != model.ExitUsage {
		t.Errorf("skipped: %+v", sr)
	}
	err := sr.Check()
	if err == nil || !strings.Contains(err.Error(), "lint: nothing checked (exit 2): nothing to check: Dockerfile not found") {
		t.Errorf("check of a skipped stage = %v", err)
	}
}

// A failed check names the blocking rules (the first few), so a CI log says what to fix.
func TestStageReportNamesBlockingRules(t *testing.T) {
	res := &model.StageResult{Stage: "scan", Status: model.StatusFail, Summary: "7 finding(s) at or above HIGH"}
	for i, id := range []string{"CVE-1", "CVE-2", "CVE-2", "CVE-3", "CVE-4", "CVE-5", "CVE-6", "CVE-7"} {
		res.Findings = append(res.Findings, model.Finding{RuleID: id, Severity: model.SeverityHigh, Blocking: i != 3})
	}
	res.Findings = append(res.Findings, model.Finding{RuleID: "CVE-LOW", Severity: model.SeverityLow})
	sr, _ := newStageReport(res)
	msg := sr.Check().Error()
	if !strings.HasSuffix(msg, ": CVE-1, CVE-2, CVE-4, CVE-5, CVE-6 and 1 more") || strings.Contains(msg, "CVE-3") || strings.Contains(msg, "CVE-LOW") {
		t.Errorf("check message = %q", msg)
	}
}

func TestStageReportTimed(t *testing.T) {
	untimed := result("validate", model.StatusPass, "")
	if got := untimed.timed(2 * time.Second); got.DurationMs != 2000 {
		t.Errorf("timed: %d ms", got.DurationMs)
	}
	own, _ := newStageReport(&model.StageResult{Stage: "lint", Status: model.StatusPass, Duration: time.Second})
	if got := own.timed(5 * time.Second); got.DurationMs != 1000 {
		t.Errorf("a stage's own duration was overwritten: %d ms", got.DurationMs)
	}
}

type errFake struct{}

func (errFake) Error() string { return "boom" }

func TestInsideSource(t *testing.T) {
	for _, p := range []string{"k8s", "./k8s", "a/../b", "deploy/app.yaml", "."} {
		if err := insideSource([]string{p}); err != nil {
			t.Errorf("insideSource(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"..", "../x", "a/../../x", "/etc/schemas"} {
		err := insideSource([]string{"k8s", p})
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.File != p {
			t.Errorf("insideSource(%q) = %v, want InputError for it", p, err)
		}
	}
}
