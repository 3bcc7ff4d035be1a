// Package changes finds what changed in a git work tree since a revision, for
// `tollgate run --changed REV`: the stages whose inputs did not change need not run again.
package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Set is the files changed since a revision. A file counts as changed when its content in the
// work tree (staged or not) differs from the revision, when it is new (untracked and not
// ignored) or deleted, and — because git cannot vouch for them — when it is ignored by git or
// lies outside the repository.
type Set struct {
	// Rev is the revision compared with, as given.
	Rev string
	// All makes every input count as changed (e.g. the config file changed); Why says why.
	All bool
	Why string

	top     string          // repository top level (symlinks resolved)
	changed map[string]bool // changed, new and deleted files (absolute, symlinks resolved)
	known   map[string]bool // files git tracks or lists as untracked
}

// Since compares the work tree holding dir with rev. A dir outside a git work tree or a rev
// that is not a commit is a *model.InputError.
func Since(ctx context.Context, dir, rev string) (*Set, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, &model.InputError{Err: fmt.Errorf("--changed %q: not a git revision", rev)}
	}
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, &model.InputError{File: dir, Err: fmt.Errorf("--changed needs a git work tree: %w", err)}
	}
	top, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("git work tree: %w", err)
	}
	if _, err := git(ctx, top, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}"); err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("--changed %s: not a commit in %s", rev, top)}
	}
	s := &Set{Rev: rev, top: top, changed: map[string]bool{}, known: map[string]bool{}}
	diff, err := git(ctx, top, "diff", "--name-only", "-z", "--no-renames", "--end-of-options", rev, "--")
	if err != nil {
		return nil, fmt.Errorf("git diff %s: %w", rev, err)
	}
	untracked, err := git(ctx, top, "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	tracked, err := git(ctx, top, "ls-files", "-z")
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	for _, p := range split(diff) {
		s.changed[filepath.Join(top, p)] = true
	}
	for _, p := range split(untracked) {
		s.changed[filepath.Join(top, p)] = true
		s.known[filepath.Join(top, p)] = true
	}
	for _, p := range split(tracked) {
		s.known[filepath.Join(top, p)] = true
	}
	return s, nil
}

func split(b []byte) []string {
	var out []string
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			out = append(out, filepath.FromSlash(string(p)))
		}
	}
	return out
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir, "-c", "core.quotepath=off"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(stderr.String()))
		}
		return nil, err
	}
	return out, nil
}

// Changes reports the first of files and trees (absolute paths) that changed, "" when none did:
// a file changed, git cannot vouch for it, or a changed path lies inside one of the trees (a
// file added to or deleted from a directory changes what reads the directory).
func (s *Set) Changes(files, trees []string) string {
	if s == nil {
		return ""
	}
	if s.All {
		return s.Why
	}
	for _, f := range files {
		r := s.real(f)
		if !s.inside(r) {
			return f + " (outside the git work tree)"
		}
		if s.changed[r] {
			return s.rel(r)
		}
		if _, err := os.Stat(r); err == nil && !s.known[r] {
			return s.rel(r) + " (ignored by git)"
		}
	}
	for _, t := range trees {
		r := s.real(t)
		if !s.inside(r) {
			return t + " (outside the git work tree)"
		}
		for c := range s.changed {
			if c == r || strings.HasPrefix(c, r+string(filepath.Separator)) {
				return s.rel(c)
			}
		}
	}
	return ""
}

// real resolves symlinks in p (in its parent when p itself no longer exists).
func (s *Set) real(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(r, filepath.Base(p))
	}
	return p
}

func (s *Set) inside(p string) bool {
	return p == s.top || strings.HasPrefix(p, s.top+string(filepath.Separator))
}

func (s *Set) rel(p string) string {
	if r, err := filepath.Rel(s.top, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}
