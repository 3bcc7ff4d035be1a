package build

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestNewPlanInputErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"missing Dockerfile", "build:\n  dockerfile: nope/Dockerfile\n", nil, "Dockerfile not found"},
		{"missing context", "build:\n  context: nope\n", nil, "build context"},
		{"unset secret variable", "build:\n  secrets:\n    - id: npm\n      env: NPM_TOKEN\n", nil, "NPM_TOKEN is not set"},
		{"missing secret file", "build:\n  secrets:\n    - id: npm\n      file: npmrc\n", nil, "npmrc"},
		{"bad SOURCE_DATE_EPOCH", "build: {}\n", map[string]string{EnvSourceDateEpoch: "yesterday"}, "SOURCE_DATE_EPOCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(filepath.Join(dir, "tollgate.yaml"), []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewPlan(dir, c, GitInfo{}, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			var ie *model.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %T %v, want an input error about %q", err, err, tt.want)
			}
		})
	}
}

func TestPlanAndBuilderArguments(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "Dockerfile.prod"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "npmrc"), []byte("token"), 0o600)
	c, err := config.Parse("tollgate.yaml", []byte(`build:
  context: app
  dockerfile: app/Dockerfile.prod
  target: runtime
  build-args: {BASE: alpine}
  platforms: [linux/amd64, linux/arm64]
  secrets:
    - {id: npm, file: npmrc}
    - {id: token, env: CI_TOKEN}
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CI_TOKEN": "canary-value-123", EnvSourceDateEpoch: "1700000000"}
	p, err := NewPlan(dir, c, GitInfo{Source: "https://example.com/a.git", Revision: "deadbeef", CommitTime: 1600000000},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	fa := FrontendAttrs(p)
	for k, v := range map[string]string{"filename": "Dockerfile.prod", "target": "runtime", "build-arg:BASE": "alpine",
		"build-arg:SOURCE_DATE_EPOCH": "1700000000", "platform": "linux/amd64,linux/arm64"} {
		if fa[k] != v {
			t.Errorf("frontend attr %s = %q, want %q", k, fa[k], v)
		}
	}
	if _, ok := fa["cmdline"]; !ok {
		t.Error("without cmdline a # syntax= line would pull a frontend image")
	}
	ea := ExportAttrs(p)
	for k, v := range map[string]string{"annotation." + AnnotationRevision: "deadbeef", "annotation-index." + AnnotationSource: "https://example.com/a.git",
		"annotation." + AnnotationCreated: "2023-11-14T22:13:20Z", "rewrite-timestamp": "true"} {
		if ea[k] != v {
			t.Errorf("export attr %s = %q, want %q", k, ea[k], v)
		}
	}
	args := strings.Join(BuildxArgs(p, "/out/x.tar"), " ")
	for _, want := range []string{"--secret id=npm,src=" + filepath.Join(dir, "npmrc"), "--secret id=token,env=CI_TOKEN", "--target runtime",
		"--platform linux/amd64,linux/arm64", "--annotation manifest:" + AnnotationRevision + "=deadbeef", "type=oci,dest=/out/x.tar"} {
		if !strings.Contains(args, want) {
			t.Errorf("buildx args lack %q: %s", want, args)
		}
	}
	if strings.Contains(args, "canary-value-123") {
		t.Error("a secret value is on the buildx command line")
	}
}

func TestSourceDateEpochFromGit(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	if e, _ := sourceDateEpoch(none, GitInfo{CommitTime: 1600000000}); e != "1600000000" {
		t.Errorf("clean checkout: epoch %q, want the commit time", e)
	}
	if e, _ := sourceDateEpoch(none, GitInfo{CommitTime: 1600000000, Dirty: true}); e != "" {
		t.Errorf("dirty checkout: epoch %q, want none (the sources are not the commit)", e)
	}
}

func TestReadGitAndStripCredentials(t *testing.T) {
	if got := StripCredentials("https://user:ghp_secret@github.com/o/r.git"); got != "https://github.com/o/r.git" {
		t.Errorf("StripCredentials = %q", got)
	}
	if got := StripCredentials("git@github.com:o/r.git"); got != "git@github.com:o/r.git" {
		t.Errorf("scp-like remote changed: %q", got)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for this test")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=@1600000000 +0000", "GIT_COMMITTER_DATE=@1600000000 +0000",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "x")
	git("remote", "add", "origin", "https://bot:tok3n@git.example.com/app.git")
	g := ReadGit(t.Context(), dir)
	if len(g.Revision) != 40 || g.CommitTime != 1600000000 || g.Dirty || g.Source != "https://git.example.com/app.git" {
		t.Errorf("ReadGit = %+v", g)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644)
	if g := ReadGit(t.Context(), dir); !g.Dirty {
		t.Error("an untracked file does not make the checkout dirty")
	}
	if g := ReadGit(t.Context(), t.TempDir()); g.Revision != "" {
		t.Errorf("not a checkout: %+v", g)
	}
}

func TestRequirementsSayWhatToInstall(t *testing.T) {
	found := func(string) (string, error) { return "/usr/sbin/runc", nil }
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	tests := []struct {
		name   string
		look   func(string) (string, error)
		euid   int
		wantOK bool
		want   []string
	}{
		{"root with runc", found, 0, true, nil},
		{"no runc", missing, 0, false, []string{"apt-get install runc", "buildx", "Dagger"}},
		{"not root", found, 1000, false, []string{"root", "rootless", "Dagger"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Requirements(tt.look, tt.euid)
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want *model.InputError (exit 2), got %T %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// build.builder: buildx on a machine without Docker is bad input that says what to do instead
// (this machine has no Docker daemon or buildx plugin to run the happy path: see README).
func TestBuildxWithoutDockerSaysWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no docker command
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY x /x\n"), 0o644)
	c, err := config.Parse("tollgate.yaml", []byte("build:\n  builder: buildx\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(dir, c, GitInfo{}, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	_, err = Buildx(t.Context(), p, archive, func(string) {})
	var ie *model.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "no docker command") || !strings.Contains(err.Error(), "build.builder: buildkit") {
		t.Fatalf("got %v, want bad input naming the missing docker command and the alternative", err)
	}
	if _, err := os.Stat(archive); !os.IsNotExist(err) {
		t.Errorf("an archive was left behind: %v", err)
	}
}
