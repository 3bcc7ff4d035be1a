package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/debpkg"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

var repoRoot = filepath.Join("..", "..")

func TestMain(m *testing.M) {
	tools.EnsureForTests("kubeconform", "kube-score") // the hooks run them
	os.Exit(m.Run())
}

// hook is one entry of .pre-commit-hooks.yaml (the fields Tollgate uses).
type hook struct {
	ID            string   `yaml:"id"`
	Name          string   `yaml:"name"`
	Entry         string   `yaml:"entry"`
	Language      string   `yaml:"language"`
	Files         string   `yaml:"files"`
	Exclude       string   `yaml:"exclude"`
	TypesOr       []string `yaml:"types_or"`
	PassFilenames *bool    `yaml:"pass_filenames"`
	AlwaysRun     bool     `yaml:"always_run"`
	RequireSerial bool     `yaml:"require_serial"`
	Description   string   `yaml:"description"`
}

func loadHooks(t *testing.T) map[string]hook {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list []hook
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&list); err != nil {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	m := map[string]hook{}
	for _, h := range list {
		if h.ID == "" || h.Name == "" || h.Entry == "" || h.Language != "golang" {
			t.Errorf("hook %+v lacks id, name or entry, or is not language golang", h)
		}
		m[h.ID] = h
	}
	return m
}

func TestHookManifest(t *testing.T) {
	hooks := loadHooks(t)
	for _, id := range []string{"tollgate-lint", "tollgate-validate", "tollgate-validate-project", "tollgate-changed"} {
		h, ok := hooks[id]
		if !ok {
			t.Fatalf("no hook %s", id)
		}
		if bin := strings.Fields(h.Entry)[0]; bin != "tollgate-hook" {
			t.Errorf("%s runs %s, want tollgate-hook (the binary this package builds)", id, bin)
		}
	}
	match := func(h hook, path string) bool {
		ok := h.Files == "" || regexp.MustCompile(h.Files).MatchString(path)
		return ok && (h.Exclude == "" || !regexp.MustCompile(h.Exclude).MatchString(path))
	}
	for path, want := range map[string]bool{
		"Dockerfile": true, "svc/Dockerfile": true, "Dockerfile.prod": true, "build/app.dockerfile": true,
		"Containerfile": true, ".dockerignore": false, "Dockerfile.dockerignore": false, "main.go": false, "docs/Dockerfiles.md": false,
	} {
		if got := match(hooks["tollgate-lint"], path); got != want {
			t.Errorf("tollgate-lint matches %s: %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]bool{
		"k8s/deployment.yaml": true, "k8s/base/svc.yml": true, "apps/k8s/cm.json": true,
		"k8s/kustomization.yaml": false, "tollgate.yaml": false, ".github/workflows/ci.yml": false,
	} {
		if got := match(hooks["tollgate-validate"], path); got != want {
			t.Errorf("tollgate-validate matches %s: %v, want %v", path, got, want)
		}
	}
}

// TestHookEntriesRunTheGates runs each hook's command line the way pre-commit does (entry, then
// the staged file names) in the demo project: clean files pass, a bad one fails its gate.
func TestHookEntriesRunTheGates(t *testing.T) {
	hooks := loadHooks(t)
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "fixtures", "demo"), dir)
	run := func(id string, files ...string) (int, string) {
		t.Helper()
		args := append(strings.Fields(hooks[id].Entry)[1:], files...)
		var out bytes.Buffer
		wd, _ := os.Getwd()
		if err := os.Chdir(dir); err != nil { // pre-commit runs hooks at the repository root
			t.Fatal(err)
		}
		defer os.Chdir(wd)
		code := cli.Main(context.Background(), args, &out, &out)
		return code, out.String()
	}
	for id, files := range map[string][]string{
		"tollgate-lint":             {"Dockerfile"},
		"tollgate-validate":         {"k8s/deployment.yaml", "k8s/service.yaml"},
		"tollgate-validate-project": nil,
	} {
		if code, out := run(id, files...); code != 0 {
			t.Errorf("%s on the demo: exit %d\n%s", id, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tollgate-reports")); err == nil {
		t.Error("a hook wrote reports into the repository")
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM alpine:3.20\nUSER root\n"), 0o644)
	if code, out := run("tollgate-lint", "Dockerfile"); code != 1 || !strings.Contains(out, "TG-DF-010") {
		t.Errorf("tollgate-lint on a root Dockerfile: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "k8s", "bad.yaml"), []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: eighty}]\n"), 0o644)
	if code, out := run("tollgate-validate", "k8s/bad.yaml"); code != 1 || !strings.Contains(out, "k8s/bad.yaml") {
		t.Errorf("tollgate-validate on a bad manifest: exit %d\n%s", code, out)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPreCommitInstallsAndRunsTheHooks is the real thing: pre-commit (Debian's package) installs
// this repository as a hook repository (go install ./..., from the local module cache, no
// network) and runs the hooks on a commit of the demo project.
func TestPreCommitInstallsAndRunsTheHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the repository as pre-commit does; skipped with -short")
	}
	if _, err := debpkg.Need(context.Background(), "pre-commit", "pre-commit"); err != nil {
		t.Fatal(err)
	}
	gitEnv := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1")
	sh := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	// The hook repository: this work tree as it is (committed or not), as one commit.
	hookRepo := t.TempDir()
	files := sh(repoRoot, gitEnv, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(files, "\x00") {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			continue // deleted in the work tree
		}
		p := filepath.Join(hookRepo, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh(hookRepo, gitEnv, "git", "init", "-q")
	sh(hookRepo, gitEnv, "git", "add", "-A")
	sh(hookRepo, gitEnv, "git", "commit", "-qm", "hooks")
	rev := strings.TrimSpace(sh(hookRepo, gitEnv, "git", "rev-parse", "HEAD"))

	app := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "fixtures", "demo"), app)
	os.WriteFile(filepath.Join(app, ".pre-commit-config.yaml"), []byte("repos:\n- repo: "+hookRepo+"\n  rev: "+rev+
		"\n  hooks:\n  - id: tollgate-lint\n  - id: tollgate-validate\n  - id: tollgate-changed\n"), 0o644)
	sh(app, gitEnv, "git", "init", "-q")
	sh(app, gitEnv, "git", "add", "-A")
	sh(app, gitEnv, "git", "commit", "-qm", "app")

	modCache := strings.TrimSpace(sh(repoRoot, os.Environ(), "go", "env", "GOMODCACHE"))
	env := append(gitEnv, "PRE_COMMIT_HOME="+t.TempDir(), "GOMODCACHE="+modCache, "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out := sh(app, env, "pre-commit", "run", "--all-files")
	for _, name := range []string{"tollgate lint (Dockerfiles)", "tollgate validate (Kubernetes manifests)", "tollgate run --changed HEAD"} {
		if !regexp.MustCompile(regexp.QuoteMeta(name) + `\.+Passed`).MatchString(out) {
			t.Errorf("%s did not pass:\n%s", name, out)
		}
	}
	// Stage a root Dockerfile: the commit is refused, naming the rule and the line.
	os.WriteFile(filepath.Join(app, "Dockerfile"), []byte("FROM alpine:3.20\nUSER root\n"), 0o644)
	sh(app, gitEnv, "git", "add", "Dockerfile")
	cmd := exec.Command("pre-commit", "run")
	cmd.Dir, cmd.Env = app, env
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "TG-DF-010") || !strings.Contains(string(b), "Dockerfile:2") {
		t.Errorf("pre-commit with a root Dockerfile staged: %v\n%s", err, b)
	}
}
