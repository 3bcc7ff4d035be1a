package score

import (
	"context"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// BenchmarkScore measures one stage run on a fixture set: temp files, the kube-score process and
// parsing.
func BenchmarkScore(b *testing.B) {
	bin, err := installer().Ensure(context.Background(), toolName)
	if err != nil {
		b.Fatalf("kube-score is not installed: run `go run ./cmd/tollgate tools install kube-score` first (%v)", err)
	}
	docs, err := manifest.Load(context.Background(), []string{"../../fixtures/score"}, "")
	if err != nil {
		b.Fatal(err)
	}
	o := OptionsFrom(config.Default())
	b.ReportMetric(float64(len(docs)), "docs/op")
	for b.Loop() {
		if _, err := (Runner{Binary: bin}).Score(context.Background(), o, docs); err != nil {
			b.Fatal(err)
		}
	}
}
