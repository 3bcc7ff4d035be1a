package lint

import (
	"context"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestNoUserSeverityDependsOnBase(t *testing.T) {
	tests := []struct {
		name string
		df   string
		want model.Severity
	}{
		{"distroless nonroot", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY app /app\n", model.SeverityLow},
		{"nonroot through a stage", "FROM gcr.io/distroless/base:debug-nonroot AS base\nFROM base\nCOPY app /app\n", model.SeverityLow},
		{"digest-pinned nonroot", "FROM gcr.io/distroless/static:nonroot@sha256:" + sixtyFour + "\nCOPY app /app\n", model.SeverityLow},
		{"plain base", "FROM alpine:3.20\nCOPY app /app\n", model.SeverityHigh},
		{"registry port is not a tag", "FROM registry.local:5000/nonroot/app\nCOPY app /app\n", model.SeverityHigh},
		{"scratch", "FROM scratch\nCOPY app /app\n", model.SeverityHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Lint(context.Background(), Options{}, []Input{{Path: "Dockerfile", Content: []byte(tt.df)}})
			if err != nil {
				t.Fatal(err)
			}
			var got []model.Severity
			for _, f := range res.Findings {
				if f.RuleID == "TG-DF-010" {
					got = append(got, f.Severity)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("TG-DF-010 severities = %v, want [%s]", got, tt.want)
			}
		})
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
