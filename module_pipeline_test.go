//go:build daggerunit

package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestStageSkip(t *testing.T) {
	withCfg := func(f func(c *config.Config)) *config.Config {
		c := config.Default()
		f(c)
		return c
	}
	plain := config.Default()
	scanImage := withCfg(func(c *config.Config) { c.Scan.Image = "app.tar" })
	sbomImage := withCfg(func(c *config.Config) { c.SBOM.Image = "registry.example/app:1" })
	onlyLint := withCfg(func(c *config.Config) { c.Stages = []string{"lint"} })
	stages := map[string]moduleStage{}
	for _, s := range runStages() {
		stages[s.name] = s
	}
	tests := []struct {
		name     string
		stage    string
		cfg      *config.Config
		hasImage bool
		want     string // substring of the reason; "" means the stage runs
	}{
		{"lint always runs", "lint", plain, false, ""},
		{"scan without image", "scan", plain, false, "no image"},
		{"sbom without image", "sbom", plain, false, "no image"},
		{"scan with argument", "scan", plain, true, ""},
		{"sbom with argument", "sbom", plain, true, ""},
		// A configured image must not be skipped: the gate would pass unchecked.
		{"scan with scan.image", "scan", scanImage, false, ""},
		{"sbom with scan.image", "sbom", scanImage, false, ""},
		{"sbom with sbom.image", "sbom", sbomImage, false, ""},
		{"scan ignores sbom.image", "scan", sbomImage, false, "no image"},
		{"stage not listed", "validate", onlyLint, false, "not in tollgate.yaml stages"},
		{"listed stage runs", "lint", onlyLint, false, ""},
		{"unlisted scan with image", "scan", onlyLint, true, "not in tollgate.yaml stages"},
	}
	for _, tc := range tests {
		in := &runInputs{cfg: tc.cfg}
		if tc.hasImage {
			in.image.ref = "registry.example/app:1"
		}
		got := stageSkip(stages[tc.stage], in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: stageSkip(%s) = %q, want %q", tc.name, tc.stage, got, tc.want)
		}
	}
}

// The module's pipeline has an entry for every stage the config knows, in the same order, so a
// stage added to tollgate.yaml cannot be silently missing from `dagger call tollgate run`.
func TestRunStagesMatchConfig(t *testing.T) {
	var names []string
	for _, s := range runStages() {
		names = append(names, s.name)
	}
	if want := config.StageNames(); !slices.Equal(names, want) {
		t.Errorf("runStages = %v, config.StageNames = %v", names, want)
	}
}

func result(stage string, status model.Status, kind string) *StageReport {
	r := &model.StageResult{Stage: stage, Status: status, Findings: []model.Finding{}, Summary: "s"}
	if status == model.StatusError {
		r.Error, r.ErrorKind = "boom", kind
	}
	sr, err := newStageReport(r)
	if err != nil {
		panic(err)
	}
	return sr
}

func TestVerdict(t *testing.T) {
	pass, fail := result("lint", model.StatusPass, ""), result("score", model.StatusFail, "")
	skip := result("scan", model.StatusSkipped, "")
	input, tool := result("validate", model.StatusError, model.ErrKindInput), result("sbom", model.StatusError, model.ErrKindTool)
	tests := []struct {
		name     string
		stages   []*StageReport
		passed   bool
		exitCode int
		nothing  bool
	}{
		{"all pass", []*StageReport{pass, skip}, true, 0, false},
		{"gate failed", []*StageReport{pass, fail, skip}, false, 1, false},
		{"input error wins over a failed gate", []*StageReport{fail, input}, false, 2, false},
		{"tool error wins", []*StageReport{input, tool, fail}, false, 3, false},
		// Skipped stages exit 2 on their own, but do not count in a run where others ran.
		{"skipped ones do not count", []*StageReport{pass, skip, skip}, true, 0, false},
		{"nothing ran", []*StageReport{skip, skip}, true, 0, true},
	}
	for _, tc := range tests {
		passed, code := verdict(tc.stages)
		if passed != tc.passed || code != tc.exitCode || nothingChecked(tc.stages) != tc.nothing {
			t.Errorf("%s: verdict = %v %d, nothingChecked = %v; want %v %d %v", tc.name, passed, code,
				nothingChecked(tc.stages), tc.passed, tc.exitCode, tc.nothing)
		}
	}
	err := nothingToCheck([]*StageReport{skipped("lint", "nothing to check: Dockerfile not found"), skipped("scan", "no image given")})
	for _, want := range []string{"nothing to check", "exit 2", "lint: nothing to check: Dockerfile not found", "scan: no image given", "--source=DIR", "tollgate.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("nothing-to-check error lacks %q:\n%v", want, err)
		}
	}
}

func TestRunReportCheck(t *testing.T) {
	r := &RunReport{Stages: []*StageReport{result("lint", model.StatusPass, ""), result("scan", model.StatusError, model.ErrKindTool),
		result("validate", model.StatusError, model.ErrKindInput), result("score", model.StatusFail, "")}}
	r.Passed, r.ExitCode = verdict(r.Stages)
	err := r.Check()
	if err == nil {
		t.Fatal("failed run passes its check")
	}
	for _, want := range []string{"3 gate(s) failed (exit 3)", "scan: tool error (exit 3): boom", "validate: input error (exit 2): boom", "score fail (exit 1)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check message lacks %q:\n%v", want, err)
		}
	}
	ok := &RunReport{Stages: []*StageReport{result("lint", model.StatusPass, "")}}
	ok.Passed, ok.ExitCode = verdict(ok.Stages)
	if err := ok.Check(); err != nil {
		t.Errorf("passing run: %v", err)
	}
	// The reports carry the verdict: the JSON's exit code is the run's.
	run, err := r.run()
	if err != nil || run.ExitCode() != r.ExitCode || run.Passed() {
		t.Errorf("run model: %v exit %d passed %v", err, run.ExitCode(), run.Passed())
	}
}

// runAll with stand-in stages (no engine): gate stages run in parallel and each is timed, a stage
// waits for its needs and is skipped when one did not pass, release stages run only after every
// gate passed, an error fails closed.
func TestRunAll(t *testing.T) {
	var running, most atomic.Int32
	gate := func(status model.Status) func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
		return func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for cur := most.Load(); n > cur && !most.CompareAndSwap(cur, n); cur = most.Load() {
			}
			time.Sleep(30 * time.Millisecond)
			return result("x", status, ""), nil
		}
	}
	named := func(name string, f func(context.Context, *Tollgate, *runInputs) (*StageReport, error)) func(context.Context, *Tollgate, *runInputs) (*StageReport, error) {
		return func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			r, err := f(ctx, m, in)
			if r != nil {
				r.Stage = name
			}
			return r, err
		}
	}
	var releaseRan atomic.Bool
	release := func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
		releaseRan.Store(true)
		if running.Load() != 0 {
			return nil, errors.New("release stage started while a gate stage ran")
		}
		return result("deploy", model.StatusPass, ""), nil
	}
	broken := func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
		return nil, errors.New("engine went away")
	}
	mk := func(second model.Status) []moduleStage {
		return []moduleStage{
			{name: "a", run: named("a", gate(model.StatusPass))},
			{name: "b", run: named("b", gate(second))},
			{name: "c", needs: []string{"b"}, run: named("c", gate(model.StatusPass))},
			{name: "d", run: broken},
			{name: "deploy", afterGates: true, run: release},
		}
	}

	out := make([]*StageReport, 5)
	runAll(context.Background(), nil, mk(model.StatusFail), &runInputs{cfg: config.Default()}, out)
	if most.Load() < 2 {
		t.Errorf("gate stages did not run in parallel (at most %d at once)", most.Load())
	}
	if out[0].Status != "pass" || out[0].DurationMs < 30 {
		t.Errorf("a: %+v (want pass, timed)", out[0])
	}
	if out[2].Status != "skipped" || !strings.Contains(out[2].Summary, "b did not pass") {
		t.Errorf("c needs b, which failed: %+v", out[2])
	}
	if out[3].Status != "error" || out[3].ErrorKind != model.ErrKindTool || !strings.Contains(out[3].Summary, "engine went away") {
		t.Errorf("an engine error must fail closed: %+v", out[3])
	}
	if out[4].Status != "skipped" || releaseRan.Load() {
		t.Errorf("release stage ran although a gate failed: %+v", out[4])
	}

	stages := mk(model.StatusPass)
	stages[3].run = named("d", gate(model.StatusPass))
	out = make([]*StageReport, 5)
	runAll(context.Background(), nil, stages, &runInputs{cfg: config.Default()}, out)
	if out[2].Status != "pass" || out[4].Status != "pass" || !releaseRan.Load() {
		t.Errorf("all gates passed: c %+v, deploy %+v", out[2], out[4])
	}
}

// A build stage hands its container to the image stages that need it; without a build (skipped)
// and without an image argument they are skipped, not blocked.
func TestRunAllBuiltImage(t *testing.T) {
	var sawImage atomic.Bool
	stages := []moduleStage{
		{name: "build", run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			in.setBuiltImage(&dagger.Container{})
			return result("build", model.StatusPass, ""), nil
		}},
		{name: "scan", needs: []string{"build"}, skip: noImage("scan"), run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			sawImage.Store(in.imageArgs().ctr != nil)
			return result("scan", model.StatusPass, ""), nil
		}},
	}
	out := make([]*StageReport, 2)
	runAll(context.Background(), nil, stages, &runInputs{cfg: config.Default()}, out)
	if out[1].Status != "pass" || !sawImage.Load() {
		t.Errorf("scan did not get the built image: %+v", out[1])
	}
	cfg := config.Default()
	cfg.Stages = []string{"scan"} // build not selected: skipped
	out = make([]*StageReport, 2)
	runAll(context.Background(), nil, stages, &runInputs{cfg: cfg}, out)
	if out[0].Status != "skipped" || out[1].Status != "skipped" || !strings.Contains(out[1].Summary, "no image given") {
		t.Errorf("without a build: build %+v, scan %+v", out[0], out[1])
	}
}
