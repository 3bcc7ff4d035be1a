package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// gatorBin is the pinned gator, installed by TestMain before any test runs (so the build does
// not count against a test's time).
var gatorBin string

func TestMain(m *testing.M) {
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true,
		Progress: os.Stderr}
	p, err := in.Ensure(context.Background(), toolName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "install the pinned gator: %v\n", err)
		os.Exit(1)
	}
	gatorBin = p
	code := m.Run()
	if cliBuild.path != "" {
		os.RemoveAll(filepath.Dir(cliBuild.path))
	}
	os.Exit(code)
}

// repoRoot is the repository root (two levels up from this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fixtures is fixtures/policy.
func fixtures(t testing.TB) string { return filepath.Join(repoRoot(t), "fixtures", "policy") }

// checkDocs runs the stage's runner with the real gator on documents, with the library and any
// extra policy documents.
func checkDocs(t *testing.T, cfg *config.Config, docs []manifest.Document, extra ...manifest.Document) *model.StageResult {
	t.Helper()
	res, err := checkDocsErr(t, cfg, docs, extra...)
	if err != nil {
		t.Fatalf("policy check: %v", err)
	}
	return res
}

func checkDocsErr(t *testing.T, cfg *config.Config, docs []manifest.Document, extra ...manifest.Document) (*model.StageResult, error) {
	t.Helper()
	var lib []manifest.Document
	if cfg.Policy.DefaultLibraryOn() {
		var err error
		if lib, err = LoadLibrary(); err != nil {
			t.Fatal(err)
		}
	}
	set, err := NewSet(lib, extra, docs)
	if err != nil {
		return nil, err
	}
	return Runner{Binary: gatorBin}.Check(context.Background(), OptionsFrom(cfg), set, docs)
}

// parseDocs reads manifest text the way the stage does.
func parseDocs(t *testing.T, name, text string) []manifest.Document {
	t.Helper()
	d, err := manifest.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return d
}

func newEnv(t *testing.T, root string, cfg *config.Config, args ...string) *stage.Env {
	t.Helper()
	return &stage.Env{Root: root, Config: cfg, Tools: &tools.Installer{CacheDir: tools.DefaultCacheDir()}, Args: args,
		Progress: func(string, string) {}}
}

// fakeTool writes an executable script standing in for gator, for the fail-closed paths only.
func fakeTool(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gator")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// rules counts findings by rule ID (active ones only unless all is set).
func rules(fs []model.Finding, all bool) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		if f.Suppression == nil || all {
			m[f.RuleID]++
		}
	}
	return m
}
