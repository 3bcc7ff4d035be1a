package gate

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

var today = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func cfg(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tollgate.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func finding(rule string, sev model.Severity, file string) model.Finding {
	return model.Finding{RuleID: rule, Severity: sev, Message: "m", Location: model.Location{File: file, Line: 3}}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		findings    []model.Finding
		wantStatus  model.Status
		wantBlock   int
		wantSupp    int
		wantNoteHas string
	}{
		{"no findings pass", "", nil, model.StatusPass, 0, 0, ""},
		{"medium below default HIGH", "", []model.Finding{finding("R1", model.SeverityMedium, "Dockerfile")}, model.StatusPass, 0, 0, ""},
		{"high fails by default", "", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusFail, 1, 0, ""},
		{"critical fails", "", []model.Finding{finding("R1", model.SeverityCritical, "Dockerfile"), finding("R2", model.SeverityLow, "Dockerfile")}, model.StatusFail, 1, 0, ""},
		{"stage threshold MEDIUM", "lint:\n  fail-on: MEDIUM\n", []model.Finding{finding("R1", model.SeverityMedium, "Dockerfile")}, model.StatusFail, 1, 0, ""},
		{"global threshold CRITICAL", "gate:\n  fail-on: CRITICAL\n", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusPass, 0, 0, ""},
		{"ignored passes", "ignore:\n  - id: R1\n    reason: accepted risk\n", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusPass, 0, 1, ""},
		{"ignore for other stage does not apply", "ignore:\n  - id: R1\n    stage: scan\n    reason: r\n", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusFail, 1, 0, ""},
		{"ignore by path", "ignore:\n  - id: R1\n    path: app/*\n    reason: r\n", []model.Finding{finding("R1", model.SeverityHigh, "app/Dockerfile"), finding("R1", model.SeverityHigh, "other/Dockerfile")}, model.StatusFail, 1, 1, ""},
		{"ignore until today still applies", "ignore:\n  - id: R1\n    reason: r\n    expires: 2026-11-27\n", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusPass, 0, 1, ""},
		{"expired ignore fails again", "ignore:\n  - id: R1\n    reason: r\n    expires: 2026-11-26\n", []model.Finding{finding("R1", model.SeverityHigh, "Dockerfile")}, model.StatusFail, 1, 0, "expired on 2026-11-26"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &model.StageResult{Stage: "lint", Findings: tt.findings}
			Apply(r, cfg(t, tt.yaml), today)
			if r.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s (%s)", r.Status, tt.wantStatus, r.Summary)
			}
			blocking := 0
			for _, f := range r.Findings {
				if f.Blocking {
					blocking++
				}
			}
			if blocking != tt.wantBlock {
				t.Errorf("blocking = %d, want %d", blocking, tt.wantBlock)
			}
			if got := len(r.Suppressed()); got != tt.wantSupp {
				t.Errorf("suppressed = %d, want %d", got, tt.wantSupp)
			}
			if tt.wantNoteHas != "" && (len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Extra["note"], tt.wantNoteHas) ||
				!strings.Contains(r.Findings[0].Message, tt.wantNoteHas)) {
				t.Errorf("note %q / message %q lack %q", r.Findings[0].Extra["note"], r.Findings[0].Message, tt.wantNoteHas)
			}
		})
	}
}

func TestExpiredStageSuppression(t *testing.T) {
	// A suppression a stage set itself (e.g. .trivyignore exp:) also stops applying after expiry.
	f := finding("CVE-1", model.SeverityHigh, "img")
	f.Suppression = &model.Suppression{Kind: "trivyignore", Reason: "r", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	live := finding("CVE-2", model.SeverityHigh, "img")
	live.Suppression = &model.Suppression{Kind: "vex", Reason: "not_affected"}
	r := &model.StageResult{Stage: "scan", Findings: []model.Finding{f, live}}
	Apply(r, cfg(t, ""), today)
	if r.Status != model.StatusFail || r.Findings[0].Suppression != nil || r.Findings[1].Suppression == nil {
		t.Fatalf("status %s, findings %+v", r.Status, r.Findings)
	}
}

func TestErrorStaysError(t *testing.T) {
	for _, st := range []model.Status{model.StatusError, model.StatusSkipped} {
		r := &model.StageResult{Stage: "scan", Status: st}
		Apply(r, cfg(t, ""), today)
		if r.Status != st {
			t.Errorf("%s became %s", st, r.Status)
		}
	}
}
