package tools

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// EnsureForTests is for a test package's TestMain, before m.Run: it makes sure the named
// pinned tools are in the shared tool cache (DefaultCacheDir: $TOLLGATE_CACHE_DIR or
// ~/.cache/tollgate), building missing ones with the CLI's own installer, with progress on
// stderr. So `go test ./...` on a fresh machine installs what its tests need, and packages
// tested in parallel (and `tollgate tools install` running beside them) build each tool once:
// the others wait on the installer's lock. Building before m.Run keeps the build out of the
// test binary's -timeout. When a tool cannot be built it prints why and exits the test binary
// with status 1, so no test runs without its tool.
func EnsureForTests(names ...string) {
	if err := ensureForTests(context.Background(), DefaultCacheDir(), os.Stderr, killDeadline(), names...); err != nil {
		fmt.Fprintf(os.Stderr, "tollgate tests: %v\n", err)
		os.Exit(1)
	}
}

func ensureForTests(ctx context.Context, cacheDir string, progress io.Writer, deadline time.Time, names ...string) error {
	pw := &prefixWriter{w: progress, prefix: "tollgate tests: "}
	in := &Installer{CacheDir: cacheDir, AutoInstall: true, Progress: pw}
	for _, name := range names {
		t, err := Get(name)
		if err != nil {
			return err
		}
		if in.Check(t).Installed {
			continue
		}
		stop := warnNearDeadline(pw, t, deadline)
		_, err = in.Ensure(ctx, name)
		stop()
		if err != nil {
			return fmt.Errorf("%w\n(build it once by hand with `go run ./cmd/tollgate tools install %s`, then rerun the tests)", err, name)
		}
	}
	return nil
}

// killDeadline is when `go test` will kill this test binary: it stops a binary that runs past
// its -test.timeout plus one minute, counted from its start, TestMain included. The zero time
// means no deadline is known. It reads os.Args rather than the flag set: parsing flags here
// would happen before TestMain's own flags exist.
func killDeadline() time.Time {
	start := time.Now()
	args := os.Args[1:]
	for i, a := range args {
		v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "test.timeout")
		switch {
		case !ok:
			continue
		case strings.HasPrefix(v, "="):
			v = v[1:]
		case v == "" && i+1 < len(args):
			v = args[i+1]
		default:
			continue
		}
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return start.Add(d + time.Minute)
		}
		return time.Time{}
	}
	return time.Time{}
}

// warnNearDeadline says, shortly before `go test` would kill a test binary still waiting for a
// build, what happened and how to go on: the Go build cache keeps every package compiled so
// far, so a rerun resumes the build rather than starting over.
func warnNearDeadline(w io.Writer, t Tool, deadline time.Time) (stop func()) {
	if deadline.IsZero() {
		return func() {}
	}
	timer := time.AfterFunc(max(time.Until(deadline)-20*time.Second, 0), func() {
		fmt.Fprintf(w, "%s %s is still building and `go test` is about to stop this package (its -timeout plus one minute); "+
			"rerun the tests (the Go build cache keeps what was compiled), pass a longer -timeout, "+
			"or build it once with `go run ./cmd/tollgate tools install %s`\n", t.Name, t.Version, t.Name)
	})
	return func() { timer.Stop() }
}

// prefixWriter starts every line with a prefix, so test output says who is building.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
