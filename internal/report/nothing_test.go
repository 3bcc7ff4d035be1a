package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// A run in which every stage was skipped checked nothing: every format says FAIL, exit 2,
// "nothing to check", and how to point Tollgate at inputs; a run with some stages skipped
// names them, with why, in its summary.
func TestNothingToCheckAndSkippedStages(t *testing.T) {
	skip := func(stage, why string) *model.StageResult {
		return &model.StageResult{Stage: stage, Status: model.StatusSkipped, Findings: []model.Finding{}, Error: why}
	}
	nothing := &model.Run{Version: "0.1.0", Stages: []*model.StageResult{
		skip("lint", "nothing to check: Dockerfile not found"), skip("scan", "no image to scan")}}
	some := &model.Run{Version: "0.1.0", Stages: []*model.StageResult{
		{Stage: "lint", Status: model.StatusPass, Findings: []model.Finding{}}, skip("scan", "no image to scan")}}
	tests := []struct {
		format string
		run    *model.Run
		want   []string
	}{
		{"table", nothing, []string{"Result: FAIL (exit 2): nothing to check", "tollgate init"}},
		{"json", nothing, []string{`"passed": false`, `"exit_code": 2`, `"error": "nothing to check`, `"skipped": [`}},
		{"markdown", nothing, []string{"Tollgate: FAIL", "**nothing to check"}},
		{"table", some, []string{"Result: PASS (exit 0): 1 of 1 stages passed; skipped: scan (no image to scan)"}},
		{"json", some, []string{`"passed": true`, `"skipped": [`, `"scan (no image to scan)"`}},
		{"markdown", some, []string{"Skipped: scan (no image to scan)"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			w, err := New(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := w.Write(&b, tt.run); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("%s output lacks %q:\n%s", tt.format, want, b.String())
				}
			}
		})
	}
}
