package score

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// fixturesDir is fixtures/score at the repository root.
func fixturesDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "score"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// installer finds the pinned tools in the same cache the CLI uses; tests never build tools.
func installer() *tools.Installer {
	return &tools.Installer{CacheDir: tools.DefaultCacheDir()}
}

// kubeScore returns the pinned kube-score binary, failing (not skipping) when it is missing.
func kubeScore(t *testing.T) string {
	t.Helper()
	p, err := installer().Ensure(context.Background(), toolName)
	if err != nil {
		t.Fatalf("kube-score is not installed: run `go run ./cmd/tollgate tools install kube-score` first (%v)", err)
	}
	return p
}

// load reads one fixture set the way the stage does.
func load(t *testing.T, set string) []manifest.Document {
	t.Helper()
	root := fixturesDir(t)
	docs, err := manifest.Load(context.Background(), []string{set}, root)
	if err != nil {
		t.Fatalf("load %s: %v", set, err)
	}
	if len(docs) == 0 {
		t.Fatalf("load %s: no documents", set)
	}
	return docs
}

// scoreSet runs the real kube-score on a fixture set with the given config.
func scoreSet(t *testing.T, cfg *config.Config, set string) *model.StageResult {
	t.Helper()
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(cfg), load(t, set))
	if err != nil {
		t.Fatalf("score %s: %v", set, err)
	}
	return res
}

// fakeTool writes an executable script standing in for kube-score, for the fail-closed paths only.
func fakeTool(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kube-score")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newEnv(t *testing.T, cfg *config.Config, args ...string) *stage.Env {
	t.Helper()
	return &stage.Env{Root: fixturesDir(t), Config: cfg, Tools: installer(), Args: args,
		Progress: func(string, string) {}}
}

func ruleIDs(fs []model.Finding) map[string]model.Severity {
	m := map[string]model.Severity{}
	for _, f := range fs {
		m[f.RuleID] = max(m[f.RuleID], f.Severity)
	}
	return m
}
