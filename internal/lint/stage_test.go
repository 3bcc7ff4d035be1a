package lint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

const demoDir = "../../fixtures/demo"

func demoEnv(t *testing.T, args ...string) *stage.Env {
	t.Helper()
	c, err := config.Load(filepath.Join(demoDir, config.FileName), false)
	if err != nil {
		t.Fatal(err)
	}
	return &stage.Env{Root: demoDir, Config: c, Args: args, Now: time.Now, Progress: func(string, string) {}, Shared: &stage.Shared{}}
}

// The demo app's Dockerfile passes every rule at the default gate, with and without its config.
func TestDemoPasses(t *testing.T) {
	env := demoEnv(t)
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		if f.Severity >= model.SeverityMedium {
			t.Errorf("demo has a %s finding: %s:%d %s %s", f.Severity, f.Location.File, f.Location.Line, f.RuleID, f.Message)
		}
		if f.RuleID != "TG-DF-002" {
			t.Errorf("demo has an unexpected finding: %s:%d %s %s", f.Location.File, f.Location.Line, f.RuleID, f.Message)
		}
	}
	gate.Apply(res, env.Config, env.Now())
	if res.Status != model.StatusPass {
		t.Fatalf("demo status %s, want pass:%s", res.Status, dump(res))
	}
	gate.Apply(res, config.Default(), env.Now())
	if res.Status != model.StatusPass {
		t.Fatalf("demo status %s under the default config, want pass:%s", res.Status, dump(res))
	}
}

// Positional args override lint.dockerfiles; a directory means its Dockerfile; paths stay relative.
func TestStageInputs(t *testing.T) {
	env := demoEnv(t, "../bad/lint/tg-df-010-root-final")
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	fs := findingsOf(res, "TG-DF-010")
	if len(fs) != 1 || fs[0].Location.File != "../bad/lint/tg-df-010-root-final/Dockerfile" || fs[0].Location.Line != 8 {
		t.Fatalf("TG-DF-010 findings %+v, want one at ../bad/lint/tg-df-010-root-final/Dockerfile:8", fs)
	}

	env = demoEnv(t, "nope/Dockerfile")
	_, err = Stage().Run(context.Background(), env)
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "nope/Dockerfile" {
		t.Fatalf("got %v, want an InputError naming nope/Dockerfile", err)
	}
}

// BuildKit's per-Dockerfile ignore file (<name>.dockerignore) wins over .dockerignore.
func TestDockerfileSpecificIgnore(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"app.Dockerfile":              "FROM node:20\nCOPY . /app\nUSER node\n",
		"app.Dockerfile.dockerignore": ".git\n.env\n",
		".dockerignore":               "node_modules\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ReadInput(dir, "app.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Lint(context.Background(), Options{}, []Input{in})
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(res, "TG-DF-050"); len(got) != 0 {
		t.Errorf("TG-DF-050 at %v; app.Dockerfile.dockerignore excludes .git and .env", got)
	}
	if err := os.Remove(filepath.Join(dir, "app.Dockerfile.dockerignore")); err != nil {
		t.Fatal(err)
	}
	in, _ = ReadInput(dir, "app.Dockerfile")
	res, _ = Lint(context.Background(), Options{}, []Input{in})
	fs := findingsOf(res, "TG-DF-050")
	if len(fs) != 1 || fs[0].Location.Line != 2 {
		t.Fatalf("TG-DF-050 %+v, want line 2 with only .dockerignore (no .git/.env)", fs)
	}
	if want := ".dockerignore does not exclude .git and .env"; !strings.Contains(fs[0].Message, want) {
		t.Errorf("message %q, want it to say %q", fs[0].Message, want)
	}
}

func TestLintCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Lint(ctx, Options{}, []Input{{Path: "Dockerfile", Content: []byte(rootDockerfile)}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// BuildKit's frontend ignores ctx and is quadratic in the instruction count: a Dockerfile with
// thousands of RUN lines must still stop when the run is cancelled (SIGTERM from `timeout`,
// Ctrl-C) instead of running on for minutes.
func TestLintHugeDockerfileHonoursContext(t *testing.T) {
	var b strings.Builder
	b.WriteString("FROM alpine:3.19\n")
	for i := range 8000 {
		fmt.Fprintf(&b, "RUN echo %d\n", i)
	}
	b.WriteString("USER 1000\n")
	huge := []byte(b.String())
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline during BuildKit", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled mid-run", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			res, err := Lint(ctx, Options{}, []Input{{Path: "Dockerfile", Content: huge}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got result %v, err %v; want %v", res != nil, err, tc.want)
			}
			if !strings.Contains(err.Error(), "Dockerfile") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// BenchmarkLintDemo measures one full lint of the demo Dockerfile (BuildKit linter included).
func BenchmarkLintDemo(b *testing.B) {
	in, err := ReadInput(demoDir, "Dockerfile")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Lint(context.Background(), Options{}, []Input{in}); err != nil {
			b.Fatal(err)
		}
	}
}
