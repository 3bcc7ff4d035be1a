package changes

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSince(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	repo := t.TempDir()
	for _, f := range []string{"Dockerfile", "k8s/a.yaml", "k8s/b.yaml", "k8s/c.yaml", "docs/x.md"} {
		write(t, filepath.Join(repo, f), f+"\n")
	}
	write(t, filepath.Join(repo, ".gitignore"), "gen/\n")
	runGit(t, repo, "init", "-q")
	runGit(t, repo, "add", ".")
	runGit(t, repo, "commit", "-qm", "one")
	write(t, filepath.Join(repo, "k8s/a.yaml"), "changed\n") // unstaged edit
	write(t, filepath.Join(repo, "k8s/b.yaml"), "staged\n")
	runGit(t, repo, "add", "k8s/b.yaml")
	os.Remove(filepath.Join(repo, "k8s/c.yaml"))
	write(t, filepath.Join(repo, "new/n.yaml"), "untracked\n")
	write(t, filepath.Join(repo, "gen/g.yaml"), "ignored\n")

	// Run from a sub-directory: paths are the repository's.
	s, err := Since(context.Background(), filepath.Join(repo, "k8s"), "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	p := func(f string) string { return filepath.Join(repo, f) }
	for _, tc := range []struct {
		files, trees []string
		changed      bool
	}{
		{files: []string{p("Dockerfile")}},
		{files: []string{p("docs/x.md"), p("Dockerfile")}},
		{files: []string{p("k8s/a.yaml")}, changed: true},
		{files: []string{p("k8s/b.yaml")}, changed: true},
		{files: []string{p("k8s/c.yaml")}, changed: true},
		{files: []string{p("new/n.yaml")}, changed: true},
		{files: []string{p("gen/g.yaml")}, changed: true},                 // ignored by git: unknown
		{files: []string{filepath.Join(t.TempDir(), "x")}, changed: true}, // outside the work tree
		{trees: []string{p("docs")}},                                      // nothing changed in it
		{trees: []string{p("k8s")}, changed: true},                        // edits and a deletion
		{trees: []string{p("new")}, changed: true},                        // a new file
		{files: []string{p("Dockerfile")}, trees: []string{p("k8s")}, changed: true},
	} {
		if got := s.Changes(tc.files, tc.trees); (got != "") != tc.changed {
			t.Errorf("Changes(%v, %v) = %q, want changed=%v", tc.files, tc.trees, got, tc.changed)
		}
	}
	s.All, s.Why = true, "tollgate.yaml changed"
	if got := s.Changes([]string{p("Dockerfile")}, nil); got != "tollgate.yaml changed" {
		t.Errorf("All: %q", got)
	}
}

func TestSinceRejectsBadInput(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	notRepo := t.TempDir()
	repo := t.TempDir()
	write(t, filepath.Join(repo, "a"), "a")
	runGit(t, repo, "init", "-q")
	runGit(t, repo, "add", ".")
	runGit(t, repo, "commit", "-qm", "one")
	for name, tc := range map[string]struct{ dir, rev string }{
		"not a git work tree": {notRepo, "HEAD"},
		"unknown revision":    {repo, "no-such-branch"},
		"option as revision":  {repo, "--output=/tmp/x"},
	} {
		_, err := Since(context.Background(), tc.dir, tc.rev)
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: error %v, want an input error", name, err)
		}
	}
}
