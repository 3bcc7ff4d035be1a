//go:build daggerunit

// Unit tests of the Dagger module's pure parts. The generated bindings connect to an engine
// session at init, so these run with a dummy session and a build tag:
//
//	DAGGER_SESSION_PORT=1 DAGGER_SESSION_TOKEN=unit go test -tags daggerunit .
package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestStageReportRoundTrip(t *testing.T) {
	res := &model.StageResult{Stage: "lint", Status: model.StatusFail, Summary: "1 finding(s) at or above HIGH",
		Tool: model.Tool{Name: "tollgate-lint", Version: "1"}, Duration: time.Second,
		Findings: []model.Finding{
			{RuleID: "R1", Severity: model.SeverityHigh, Message: "bad", Location: model.Location{File: "Dockerfile", Line: 4}, Blocking: true},
			{RuleID: "R2", Severity: model.SeverityLow, Message: "meh", Suppression: &model.Suppression{Kind: "inline", Reason: "ok"}},
		}}
	sr, err := newStageReport(res)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Passed() || sr.Check() == nil || !strings.Contains(sr.Check().Error(), "lint fail") {
		t.Errorf("failed stage passes: %+v", sr)
	}
	if len(sr.Findings) != 1 || sr.Findings[0].Rule != "R1" || sr.Findings[0].Line != 4 || !sr.Findings[0].Blocking {
		t.Errorf("findings = %+v", sr.Findings)
	}
	back, err := sr.result()
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != 2 || back.Findings[1].Suppression == nil || back.Duration != time.Second {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestStageReportError(t *testing.T) {
	res := model.ErrorResult("scan", model.Tool{Name: "trivy"}, &model.ToolError{Tool: "trivy", Err: errFake{}})
	sr, err := newStageReport(res)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Passed() || !strings.Contains(sr.Summary, "boom") {
		t.Errorf("error stage: %+v", sr)
	}
	skipped, _ := newStageReport(&model.StageResult{Stage: "sbom", Status: model.StatusSkipped, Error: "no image"})
	if !skipped.Passed() || skipped.Check() != nil {
		t.Errorf("skipped stage must not fail the call: %+v", skipped)
	}
}

type errFake struct{}

func (errFake) Error() string { return "boom" }
