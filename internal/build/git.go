package build

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// OCI annotation keys Tollgate fills in from git.
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationCreated  = "org.opencontainers.image.created"
)

// GitInfo describes the sources being built, as far as git knows them.
type GitInfo struct {
	Source     string // remote URL without credentials ("" when there is no origin)
	Revision   string // commit hash of HEAD
	CommitTime int64  // HEAD's committer time, seconds since 1970
	Dirty      bool   // uncommitted changes under the build context
}

// ReadGit asks git about dir (the build context). Anything git cannot answer (no git, not a
// checkout, no origin) is left empty: annotations are best effort, never a build failure.
func ReadGit(ctx context.Context, dir string) GitInfo {
	run := func(args ...string) (string, bool) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		// Never prompt for credentials, never read a pager.
		cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return "", false
		}
		return strings.TrimSpace(out.String()), true
	}
	var g GitInfo
	rev, ok := run("rev-parse", "--verify", "HEAD")
	if !ok {
		return g
	}
	g.Revision = rev
	if t, ok := run("log", "-1", "--format=%ct", "HEAD"); ok {
		g.CommitTime, _ = strconv.ParseInt(t, 10, 64)
	}
	if u, ok := run("config", "--get", "remote.origin.url"); ok {
		g.Source = StripCredentials(u)
	}
	if st, ok := run("status", "--porcelain", "--untracked-files=normal", "--", "."); !ok || st != "" {
		g.Dirty = true
	}
	return g
}

// StripCredentials removes a user:password (or token) from a remote URL: the source annotation
// is public, credentials in a clone URL are not.
func StripCredentials(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return remote // scp-like git@host:path carries no secret
	}
	u.User = nil
	return u.String()
}

// Annotations are the OCI annotations for an image built from git at epoch (seconds, "" for
// now): source and revision when git knows them, created always.
func Annotations(g GitInfo, epoch string) map[string]string {
	a := map[string]string{}
	if g.Source != "" {
		a[AnnotationSource] = g.Source
	}
	if g.Revision != "" {
		a[AnnotationRevision] = g.Revision
	}
	created := time.Now().UTC().Truncate(time.Second)
	if n, err := strconv.ParseInt(epoch, 10, 64); err == nil && epoch != "" {
		created = time.Unix(n, 0).UTC()
	}
	a[AnnotationCreated] = created.Format(time.RFC3339)
	return a
}
