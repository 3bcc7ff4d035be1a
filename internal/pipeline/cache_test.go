package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/changes"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// fileStage is a cacheable stage over one input file: it reports one finding per line
// "SEVERITY RULE" and counts its runs. Its key covers the file, like a real stage's.
type fileStage struct {
	name  string
	input string // relative to the project root
	runs  atomic.Int32
	// run, when set, replaces the default Run body (after counting).
	run func(ctx context.Context, env *stage.Env) (*model.StageResult, error)
	// key, when set, adds to the key after the input file.
	key func(k *resultcache.Key, env *stage.Env)
}

func (f *fileStage) stage() stage.Stage {
	return stage.Stage{
		Name: f.name,
		Tool: model.Tool{Name: "fake", Version: "1"},
		Run: func(ctx context.Context, env *stage.Env) (*model.StageResult, error) {
			f.runs.Add(1)
			if f.run != nil {
				return f.run(ctx, env)
			}
			b, err := os.ReadFile(env.Path(f.input))
			if err != nil {
				return nil, &model.InputError{File: f.input, Err: err}
			}
			r := &model.StageResult{Findings: []model.Finding{}}
			for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				sev, rule, ok := strings.Cut(line, " ")
				if !ok {
					continue
				}
				s, err := model.ParseSeverity(sev)
				if err != nil {
					return nil, &model.InputError{File: f.input, Line: i + 1, Err: err}
				}
				r.Findings = append(r.Findings, model.Finding{RuleID: rule, Severity: s, Message: line,
					Location: model.Location{File: f.input, Line: i + 1}})
			}
			return r, nil
		},
		CacheKey: func(ctx context.Context, env *stage.Env) (*resultcache.Key, error) {
			k := env.Cache.NewKey(f.name)
			k.File("input", env.Path(f.input))
			if f.key != nil {
				f.key(k, env)
			}
			return k, nil
		},
	}
}

type project struct {
	t     *testing.T
	root  string
	cache *resultcache.Cache
	cfg   *config.Config
	now   time.Time
}

func newProject(t *testing.T) *project {
	t.Helper()
	return &project{t: t, root: t.TempDir(), cache: resultcache.New(t.TempDir(), resultcache.Options{}),
		cfg: config.Default(), now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (p *project) write(name, body string) {
	p.t.Helper()
	path := filepath.Join(p.root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *project) env() *stage.Env {
	return &stage.Env{Root: p.root, Config: p.cfg, Cache: p.cache, Now: func() time.Time { return p.now }}
}

func (p *project) run(stages ...stage.Stage) []*model.StageResult {
	p.t.Helper()
	return Run(context.Background(), p.env(), stages, nil).Stages
}

func TestCachedResultIsServedUntilAnInputChanges(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "LOW R1\n")
	f := &fileStage{name: "check", input: "in.txt"}
	if r := p.run(f.stage())[0]; r.Cached || r.Status != model.StatusPass || f.runs.Load() != 1 {
		t.Fatalf("first run: cached=%v status=%s runs=%d", r.Cached, r.Status, f.runs.Load())
	}
	r := p.run(f.stage())[0]
	if !r.Cached || f.runs.Load() != 1 || r.Status != model.StatusPass || len(r.Findings) != 1 || r.Findings[0].Stage != "check" {
		t.Fatalf("second run: cached=%v runs=%d %+v", r.Cached, f.runs.Load(), r)
	}
	p.write("in.txt", "LOW R2\n") // one byte
	if r := p.run(f.stage())[0]; r.Cached || f.runs.Load() != 2 || r.Findings[0].RuleID != "R2" {
		t.Fatalf("after a one-byte change: cached=%v runs=%d", r.Cached, f.runs.Load())
	}
	// A config value the key covers.
	f.key = func(k *resultcache.Key, env *stage.Env) { k.Value("config", env.Config.Score.IgnoreChecks) }
	p.run(f.stage())
	runs := f.runs.Load()
	if r := p.run(f.stage())[0]; !r.Cached || f.runs.Load() != runs {
		t.Fatal("unchanged config reran")
	}
	p.cfg.Score.IgnoreChecks = []string{"x"}
	if r := p.run(f.stage())[0]; r.Cached || f.runs.Load() != runs+1 {
		t.Fatal("a changed config value did not rerun")
	}
}

func TestCachedFailureStaysAFailure(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "HIGH BAD\n")
	f := &fileStage{name: "check", input: "in.txt"}
	first := Run(context.Background(), p.env(), []stage.Stage{f.stage()}, nil)
	second := Run(context.Background(), p.env(), []stage.Stage{f.stage()}, nil)
	if !second.Stages[0].Cached || f.runs.Load() != 1 {
		t.Fatal("second run was not served from the cache")
	}
	for i, run := range []*model.Run{first, second} {
		r := run.Stages[0]
		if r.Status != model.StatusFail || !r.Findings[0].Blocking || run.ExitCode() != model.ExitFail {
			t.Errorf("run %d: status %s blocking=%v exit %d, want a failed gate", i+1, r.Status, r.Findings[0].Blocking, run.ExitCode())
		}
	}
}

func TestGateIsAppliedWhenACachedResultIsRead(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "HIGH CVE-1\n")
	p.cfg.Ignore = []config.Ignore{{ID: "CVE-1", Reason: "not reachable", Expires: config.Date{Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}}}
	f := &fileStage{name: "check", input: "in.txt"}
	if r := p.run(f.stage())[0]; r.Status != model.StatusPass || r.Findings[0].Suppression == nil {
		t.Fatalf("live ignore: %s %+v", r.Status, r.Findings[0])
	}
	// The ignore expires: the cached raw result is gated again and fails.
	p.now = time.Date(2026, 6, 2, 12, 0, 0, 0, time.UTC)
	r := p.run(f.stage())[0]
	if !r.Cached || f.runs.Load() != 1 {
		t.Fatal("not served from the cache")
	}
	if r.Status != model.StatusFail || r.Findings[0].Suppression != nil || !strings.Contains(r.Findings[0].Message, "expired") {
		t.Fatalf("expired ignore still applied to the cached result: %s %+v", r.Status, r.Findings[0])
	}
	// A threshold change takes effect without a rerun too.
	p.cfg.Gate.FailOn = model.SeverityCritical
	if r := p.run(f.stage())[0]; !r.Cached || r.Status != model.StatusPass {
		t.Fatalf("threshold change on a cached result: cached=%v %s", r.Cached, r.Status)
	}
}

func TestRemovedIgnoreNoLongerAppliesToACachedResult(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "HIGH CVE-2\n")
	p.cfg.Ignore = []config.Ignore{{ID: "CVE-2", Reason: "accepted"}}
	f := &fileStage{name: "check", input: "in.txt"}
	if r := p.run(f.stage())[0]; r.Status != model.StatusPass {
		t.Fatalf("with the ignore: %s", r.Status)
	}
	p.cfg.Ignore = nil
	if r := p.run(f.stage())[0]; !r.Cached || r.Status != model.StatusFail || r.Findings[0].Suppression != nil {
		t.Fatalf("ignore removed from the config, cached result: cached=%v %s %+v", r.Cached, r.Status, r.Findings[0].Suppression)
	}
}

func TestErrorsAreNeverCached(t *testing.T) {
	for name, err := range map[string]error{
		"tool error":  &model.ToolError{Tool: "fake", Err: errors.New("crashed")},
		"input error": &model.InputError{File: "in.txt", Line: 1, Err: errors.New("bad")},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProject(t)
			p.write("in.txt", "LOW R\n")
			f := &fileStage{name: "check", input: "in.txt"}
			f.run = func(context.Context, *stage.Env) (*model.StageResult, error) { return nil, err }
			for i := 1; i <= 2; i++ {
				r := p.run(f.stage())[0]
				if r.Status != model.StatusError || r.Cached || int(f.runs.Load()) != i {
					t.Fatalf("run %d: status %s cached=%v runs=%d", i, r.Status, r.Cached, f.runs.Load())
				}
			}
		})
	}
}

func TestInputEditedDuringTheRunIsNotStored(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "LOW R\n")
	f := &fileStage{name: "check", input: "in.txt"}
	f.run = func(_ context.Context, env *stage.Env) (*model.StageResult, error) {
		p.write("in.txt", "LOW EDITED\n") // the user saves while the stage runs
		return &model.StageResult{}, nil
	}
	p.run(f.stage())
	p.run(f.stage())
	if f.runs.Load() != 2 {
		t.Fatalf("runs = %d: a result was stored although its input changed during the run", f.runs.Load())
	}
}

func TestPendingKeyIsStoredUnderTheKeyAfterTheRun(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "LOW R\n")
	marker := filepath.Join(p.root, "tool-installed")
	f := &fileStage{name: "check", input: "in.txt"}
	f.key = func(k *resultcache.Key, env *stage.Env) {
		if _, err := os.Stat(marker); err != nil {
			k.Pending("tool not installed yet")
		}
	}
	f.run = func(context.Context, *stage.Env) (*model.StageResult, error) {
		os.WriteFile(marker, nil, 0o644) // the stage installs its tool
		return &model.StageResult{}, nil
	}
	p.run(f.stage())
	if r := p.run(f.stage())[0]; !r.Cached || f.runs.Load() != 1 {
		t.Fatalf("cached=%v runs=%d, want the first run's result stored under the post-install key", r.Cached, f.runs.Load())
	}
}

func TestNoCacheRerunsAndRefreshes(t *testing.T) {
	p := newProject(t)
	p.write("in.txt", "LOW R\n")
	f := &fileStage{name: "check", input: "in.txt"}
	p.run(f.stage())
	dir := p.cache.Dir()
	p.cache = resultcache.New(dir, resultcache.Options{Refresh: true})
	if r := p.run(f.stage())[0]; r.Cached || f.runs.Load() != 2 {
		t.Fatal("--no-cache read the cache")
	}
	p.cache = resultcache.New(dir, resultcache.Options{})
	if r := p.run(f.stage())[0]; !r.Cached || f.runs.Load() != 2 {
		t.Fatal("the refreshed result was not stored")
	}
}

func TestStagesWithoutKeysAlwaysRun(t *testing.T) {
	p := newProject(t)
	var runs atomic.Int32
	s := stage.Stage{Name: "push", Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
		runs.Add(1)
		return &model.StageResult{}, nil
	}}
	p.run(s)
	if r := p.run(s)[0]; r.Cached || runs.Load() != 2 {
		t.Fatal("a stage without a cache key was cached")
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestChangedRunsOnlyWhatChanged(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	p := newProject(t)
	p.write("Dockerfile", "LOW DF\n")
	p.write("k8s/a.yaml", "LOW A\n")
	p.write(".gitignore", "generated/\n")
	git(t, p.root, "init", "-q")
	git(t, p.root, "add", ".")
	git(t, p.root, "commit", "-qm", "init")

	lint := &fileStage{name: "lint", input: "Dockerfile"}
	validate := &fileStage{name: "validate", input: "k8s/a.yaml"}
	validate.key = func(k *resultcache.Key, env *stage.Env) { k.Tree("manifests", env.Path("k8s"), resultcache.SkipHidden) }
	image := &fileStage{name: "scan", input: "Dockerfile"}
	image.key = func(k *resultcache.Key, env *stage.Env) { k.External() }
	var builds atomic.Int32
	build := stage.Stage{Name: "build", Run: func(context.Context, *stage.Env) (*model.StageResult, error) {
		builds.Add(1)
		return &model.StageResult{}, nil
	}}
	changedRun := func() map[string]*model.StageResult {
		t.Helper()
		cs, err := changes.Since(context.Background(), p.root, "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		env := p.env()
		env.Changed = cs
		out := map[string]*model.StageResult{}
		for _, r := range Run(context.Background(), env, []stage.Stage{build, lint.stage(), validate.stage(), image.stage()}, nil).Stages {
			out[r.Stage] = r
		}
		return out
	}

	// Nothing changed and nothing cached: the project stages are skipped, the image stage runs.
	got := changedRun()
	for _, s := range []string{"build", "lint", "validate"} {
		if got[s].Status != model.StatusSkipped {
			t.Errorf("%s: %s, want skipped (unchanged, not cached)", s, got[s].Status)
		}
	}
	if got["scan"].Status != model.StatusPass || image.runs.Load() != 1 || builds.Load() != 0 {
		t.Errorf("scan %s runs %d, builds %d", got["scan"].Status, image.runs.Load(), builds.Load())
	}

	// A full run fills the cache; then unchanged stages come from it.
	p.run(lint.stage(), validate.stage())
	got = changedRun()
	if !got["lint"].Cached || !got["validate"].Cached || lint.runs.Load() != 1 || validate.runs.Load() != 1 {
		t.Errorf("unchanged stages not served from the cache: lint %+v validate %+v", got["lint"], got["validate"])
	}

	// A changed manifest reruns validate only.
	p.write("k8s/a.yaml", "HIGH A\n")
	got = changedRun()
	if got["validate"].Cached || validate.runs.Load() != 2 || got["validate"].Status != model.StatusFail {
		t.Errorf("changed manifest: validate %+v runs %d", got["validate"], validate.runs.Load())
	}
	if !got["lint"].Cached || lint.runs.Load() != 1 {
		t.Errorf("unchanged Dockerfile reran lint")
	}
	git(t, p.root, "commit", "-qam", "manifest")

	// A new, untracked file in the manifest tree is a change: validate runs on the new tree.
	p.write("k8s/new.yaml", "LOW N\n")
	runs := validate.runs.Load()
	if got = changedRun(); got["validate"].Status == model.StatusSkipped || validate.runs.Load() != runs+1 {
		t.Errorf("untracked manifest: validate %s, runs %d -> %d, want a run", got["validate"].Status, runs, validate.runs.Load())
	}
	git(t, p.root, "add", "-A")
	git(t, p.root, "commit", "-qm", "new")

	// So is a deleted one (checked with an empty cache, where "unchanged" would mean skipped).
	os.Remove(filepath.Join(p.root, "k8s/new.yaml"))
	p.cache = resultcache.New(t.TempDir(), resultcache.Options{})
	runs = validate.runs.Load()
	if got = changedRun(); got["validate"].Status == model.StatusSkipped || validate.runs.Load() != runs+1 {
		t.Errorf("deleted manifest: validate %s, runs %d -> %d, want a run", got["validate"].Status, runs, validate.runs.Load())
	}
	if got["lint"].Status != model.StatusSkipped {
		t.Errorf("lint with an unchanged Dockerfile and an empty cache: %s, want skipped", got["lint"].Status)
	}

	// A file git ignores cannot be vouched for: it counts as changed.
	ignored := &fileStage{name: "score", input: "generated/out.yaml"}
	p.write("generated/out.yaml", "LOW G\n")
	cs, err := changes.Since(context.Background(), p.root, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	env := p.env()
	env.Changed = cs
	if r := Run(context.Background(), env, []stage.Stage{ignored.stage()}, nil).Stages[0]; r.Status == model.StatusSkipped || ignored.runs.Load() != 1 {
		t.Errorf("stage reading a git-ignored file was skipped: %+v", r)
	}
}
