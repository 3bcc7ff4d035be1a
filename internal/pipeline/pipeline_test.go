package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

func fixed(findings ...model.Finding) func(context.Context, *stage.Env) (*model.StageResult, error) {
	return func(context.Context, *stage.Env) (*model.StageResult, error) {
		return &model.StageResult{Findings: findings}, nil
	}
}

func TestRunParallelAndOrder(t *testing.T) {
	// Two independent stages must overlap: each waits until the other has started.
	var started atomic.Int32
	both := make(chan struct{})
	wait := func(ctx context.Context, _ *stage.Env) (*model.StageResult, error) {
		if started.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return &model.StageResult{}, nil
		case <-time.After(10 * time.Second):
			return nil, errors.New("stages did not run in parallel")
		}
	}
	env := &stage.Env{Config: config.Default()}
	run := Run(context.Background(), env, []stage.Stage{{Name: "a", Run: wait}, {Name: "b", Run: wait}}, nil)
	for i, want := range []string{"a", "b"} {
		if run.Stages[i].Stage != want || run.Stages[i].Status != model.StatusPass {
			t.Errorf("stage %d = %+v", i, run.Stages[i])
		}
	}
}

func TestRunStatuses(t *testing.T) {
	high := model.Finding{RuleID: "R", Severity: model.SeverityHigh, Message: "bad"}
	stages := []stage.Stage{
		{Name: "clean", Run: fixed()},
		{Name: "gated", Run: fixed(high)},
		{Name: "badinput", Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
			return nil, model.InputErrorf("Dockerfile", 3, "unknown instruction")
		}},
		{Name: "crash", Run: func(context.Context, *stage.Env) (*model.StageResult, error) { panic("boom") }},
		{Name: "tool", Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
			return nil, &model.ToolError{Tool: "trivy", Err: errors.New("killed")}
		}},
		{Name: "dependent", Needs: []string{"tool"}, Run: fixed()},
	}
	var events []Event
	run := Run(context.Background(), &stage.Env{Config: config.Default()}, stages, func(e Event) { events = append(events, e) })
	want := map[string]model.Status{"clean": model.StatusPass, "gated": model.StatusFail, "badinput": model.StatusError,
		"crash": model.StatusError, "tool": model.StatusError, "dependent": model.StatusSkipped}
	for _, s := range run.Stages {
		if s.Status != want[s.Stage] {
			t.Errorf("%s: status %s, want %s (%s)", s.Stage, s.Status, want[s.Stage], s.Error)
		}
	}
	if run.Stages[2].ErrorKind != model.ErrKindInput || run.Stages[4].ErrorKind != model.ErrKindTool || run.Stages[3].ErrorKind != model.ErrKindTool {
		t.Errorf("error kinds: %q %q %q", run.Stages[2].ErrorKind, run.Stages[3].ErrorKind, run.Stages[4].ErrorKind)
	}
	if run.Passed() {
		t.Error("run with failures passed")
	}
	if got := run.ExitCode(); got != model.ExitTool {
		t.Errorf("exit code = %d, want %d", got, model.ExitTool)
	}
	done := 0
	for _, e := range events {
		if e.Kind == EventDone {
			done++
		}
	}
	if done != len(stages) {
		t.Errorf("%d done events, want %d", done, len(stages))
	}
}

func TestExitCodes(t *testing.T) {
	mk := func(st model.Status, kind string) *model.StageResult {
		return &model.StageResult{Status: st, ErrorKind: kind}
	}
	tests := []struct {
		stages []*model.StageResult
		want   int
	}{
		{[]*model.StageResult{mk(model.StatusPass, ""), mk(model.StatusSkipped, "")}, 0},
		{[]*model.StageResult{mk(model.StatusPass, ""), mk(model.StatusFail, "")}, 1},
		{[]*model.StageResult{mk(model.StatusFail, ""), mk(model.StatusError, model.ErrKindInput)}, 2},
		{[]*model.StageResult{mk(model.StatusError, model.ErrKindInput), mk(model.StatusError, model.ErrKindTool)}, 3},
	}
	for i, tt := range tests {
		if got := (&model.Run{Stages: tt.stages}).ExitCode(); got != tt.want {
			t.Errorf("case %d: exit %d, want %d", i, got, tt.want)
		}
	}
}

func TestSelect(t *testing.T) {
	if _, err := Select([]string{"nope"}); err == nil {
		t.Error("unknown stage accepted")
	}
	all, err := Select(nil)
	if err != nil || len(all) == 0 {
		t.Fatalf("Select(nil) = %v, %v", all, err)
	}
}

func TestAfterGates(t *testing.T) {
	high := model.Finding{RuleID: "R", Severity: model.SeverityHigh, Message: "bad"}
	skipped := func(context.Context, *stage.Env) (*model.StageResult, error) {
		return &model.StageResult{Status: model.StatusSkipped, Error: "nothing"}, nil
	}
	// release records what it saw of the gates, to prove it ran after all of them.
	release := func(saw *[]string) func(context.Context, *stage.Env) (*model.StageResult, error) {
		return func(_ context.Context, env *stage.Env) (*model.StageResult, error) {
			for _, r := range env.Results() {
				*saw = append(*saw, r.Stage+":"+string(r.Status))
			}
			return &model.StageResult{}, nil
		}
	}
	slow := func(context.Context, *stage.Env) (*model.StageResult, error) {
		time.Sleep(50 * time.Millisecond)
		return &model.StageResult{}, nil
	}
	tests := []struct {
		name       string
		gates      []stage.Stage
		wantStatus model.Status
		wantSaw    []string
	}{
		{"all pass", []stage.Stage{{Name: "a", Run: slow}, {Name: "b", Run: skipped}}, model.StatusPass, []string{"a:pass", "b:skipped"}},
		{"one fails", []stage.Stage{{Name: "a", Run: slow}, {Name: "b", Run: fixed(high)}}, model.StatusSkipped, nil},
		{"one errors", []stage.Stage{{Name: "a", Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
			return nil, errors.New("crash")
		}}}, model.StatusSkipped, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var saw []string
			// The release stage comes first in the list: it must still wait for the gates.
			stages := append([]stage.Stage{{Name: "push", AfterGates: true, Run: release(&saw)}}, tc.gates...)
			run := Run(context.Background(), &stage.Env{Config: config.Default()}, stages, nil)
			got := run.Stages[0]
			if got.Status != tc.wantStatus {
				t.Fatalf("push status %s (%s), want %s", got.Status, got.Error, tc.wantStatus)
			}
			if tc.wantStatus == model.StatusSkipped && !strings.Contains(got.Error, "gates did not pass") {
				t.Errorf("skip reason %q", got.Error)
			}
			if strings.Join(saw, ",") != strings.Join(tc.wantSaw, ",") {
				t.Errorf("release stage saw %v, want %v", saw, tc.wantSaw)
			}
		})
	}
}

func TestSetUpDropsOptInStagesNotSetUp(t *testing.T) {
	on := func(*config.Config, string) bool { return true }
	off := func(*config.Config, string) bool { return false }
	stages := []stage.Stage{{Name: "lint"}, {Name: "build", OptIn: off}, {Name: "push", OptIn: on}, {Name: "deploy", OptIn: off}}
	var got []string
	for _, s := range SetUp(stages, config.Default(), ".") {
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != "lint,push" {
		t.Errorf("SetUp kept %v, want lint and push", got)
	}
	// The real registry: a default config sets up none of the opt-in stages.
	for _, k := range []string{"KUBECONFIG", "TOLLGATE_COSIGN_KEY", "TOLLGATE_COSIGN_PUBLIC_KEY"} {
		t.Setenv(k, "")
	}
	got = nil
	for _, s := range SetUp(Stages(), config.Default(), t.TempDir()) {
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != "lint,validate,score,policy,sbom,scan" {
		t.Errorf("default stages %v", got)
	}
}

// Release stages order by Needs: deploy waits for verify, and a verify that refused the image
// (a failed gate) stops deploy; a verify that was skipped (not set up) lets deploy run on its own.
func TestNeedsFailedStopsDependent(t *testing.T) {
	high := model.Finding{RuleID: "VERIFY", Severity: model.SeverityCritical, Message: "unsigned"}
	skip := func(context.Context, *stage.Env) (*model.StageResult, error) {
		return &model.StageResult{Status: model.StatusSkipped, Error: "not set up"}, nil
	}
	for _, tc := range []struct {
		name   string
		verify func(context.Context, *stage.Env) (*model.StageResult, error)
		want   model.Status
	}{
		{"verify refused", fixed(high), model.StatusSkipped},
		{"verify passed", fixed(), model.StatusPass},
		{"verify skipped", skip, model.StatusPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var deployed atomic.Bool
			stages := []stage.Stage{
				{Name: "deploy", AfterGates: true, Needs: []string{"verify"}, Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
					deployed.Store(true)
					return &model.StageResult{}, nil
				}},
				{Name: "verify", AfterGates: true, Run: tc.verify},
			}
			run := Run(context.Background(), &stage.Env{Config: config.Default()}, stages, nil)
			if got := run.Stages[0].Status; got != tc.want || deployed.Load() != (tc.want == model.StatusPass) {
				t.Fatalf("deploy %s (%s), ran %v; want %s", got, run.Stages[0].Error, deployed.Load(), tc.want)
			}
		})
	}
}
