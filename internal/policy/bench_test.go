package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// BenchmarkAroundGator measures Tollgate's own work in a policy run, everything but gator itself:
// loading the manifests and the library, Pod Security, gator's input, reading gator's output, the
// gate and the JSON report. ci/bench-policy.sh runs it on its generated set (BENCH_POLICY_MANIFESTS,
// with gator's real output for it in BENCH_POLICY_GATOR_OUTPUT) to profile; without them it runs on
// the good fixture and a real gator run of it.
func BenchmarkAroundGator(b *testing.B) {
	ctx := context.Background()
	root, paths := repoRoot(b), []string{filepath.Join("fixtures", "policy", "good")}
	if m := os.Getenv("BENCH_POLICY_MANIFESTS"); m != "" {
		root, paths = m, []string{"."}
	}
	cfg := config.Default()
	var gatorOut []byte
	if p := os.Getenv("BENCH_POLICY_GATOR_OUTPUT"); p != "" {
		var err error
		if gatorOut, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	} else {
		docs, _ := manifest.Load(ctx, paths, root)
		set, _ := LoadSet(ctx, cfg, root, docs)
		p, _ := Prepare(OptionsFrom(cfg), set, docs)
		out, err := Runner{Binary: gatorBin}.gator(ctx, p.Batch)
		if err != nil {
			b.Fatal(err)
		}
		gatorOut = out.Stdout
	}
	exit := 1
	if string(gatorOut) == "null" {
		exit = 0
	}
	b.ResetTimer()
	for b.Loop() {
		docs, err := manifest.Load(ctx, paths, root)
		if err != nil {
			b.Fatal(err)
		}
		set, err := LoadSet(ctx, cfg, root, docs)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Prepare(OptionsFrom(cfg), set, docs)
		if err != nil {
			b.Fatal(err)
		}
		pss, err := p.PodSecurity()
		if err != nil {
			b.Fatal(err)
		}
		res, err := p.Result(Tool(), &tools.Result{ExitCode: exit, Stdout: gatorOut}, pss)
		if err != nil {
			b.Fatal(err)
		}
		gate.Apply(res, cfg, time.Now())
		if _, err := report.Render("json", &model.Run{Version: model.Version, Stages: []*model.StageResult{res}}); err != nil {
			b.Fatal(err)
		}
	}
}
