package report

import (
	"fmt"
	"io"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// bigRun is a large but realistic run: five stages of 2,000 findings each, a tenth suppressed.
func bigRun() *model.Run {
	run := &model.Run{Version: "0.1.0", Source: "/src"}
	for s := range 5 {
		st := &model.StageResult{Stage: fmt.Sprintf("stage%d", s), Status: model.StatusFail, Tool: model.Tool{Name: "trivy", Version: "v0.74.0"}}
		for i := range 2000 {
			f := model.Finding{
				RuleID: fmt.Sprintf("CVE-2024-%05d", i%700), Severity: model.Severity(1 + i%5), Blocking: i%5 >= 3,
				Title: "a vulnerability", Message: "package x has a vulnerability, fixed in 1.2.3",
				Location: model.Location{File: fmt.Sprintf("deploy/app-%d.yaml", i%40), Line: 1 + i%300, Resource: "Deployment/default/web"},
				Fix:      "upgrade", URL: "https://avd.aquasec.com/nvd/cve", Extra: map[string]string{"package": "x"},
			}
			if i%10 == 0 {
				f.Blocking = false
				f.Suppression = &model.Suppression{Kind: "config", Reason: "accepted"}
			}
			st.Findings = append(st.Findings, f)
		}
		run.Stages = append(run.Stages, st)
	}
	return run
}

func BenchmarkWriters(b *testing.B) {
	run := bigRun()
	for _, f := range Formats() {
		w, err := New(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				if err := w.Write(io.Discard, run); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
