package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/debpkg"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// fx is built once per test binary: runc (from Debian, installed when missing), the pinned
// buildkitd, a loopback registry serving the Builder base image, and one private daemon.
var fx struct {
	dir      string
	registry string // host:port
	base     string // registry/tollgate/base:3.19
	daemon   *Daemon
	err      error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-build-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fx.dir = dir
	var stopReg func()
	fx.registry, stopReg = testimage.OpenRegistry()
	fx.err = setup(context.Background(), dir)
	code := m.Run()
	if fx.daemon != nil {
		fx.daemon.Stop()
	}
	stopReg()
	removeState(dir)
	os.Exit(code)
}

func setup(ctx context.Context, dir string) error {
	if err := ensureRunc(ctx); err != nil {
		return err
	}
	tool, err := testimage.BuilderTool(ctx, dir)
	if err != nil {
		return err
	}
	img, err := testimage.Builder(tool)
	if err != nil {
		return err
	}
	fx.base = fx.registry + "/" + testimage.BuilderRepository + ":" + testimage.BuilderTag
	if err := testimage.Push(img, fx.base); err != nil {
		return err
	}
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	bin, err := in.Ensure(ctx, "buildkitd")
	if err != nil {
		return err
	}
	runc, err := Requirements(exec.LookPath, os.Geteuid())
	if err != nil {
		return err
	}
	fx.daemon, err = StartDaemon(ctx, DaemonOptions{Binary: bin, Runc: runc, StateDir: filepath.Join(dir, "state")})
	return err
}

// ensureRunc installs Debian's runc when it is missing (the tests run as root, like CI).
func ensureRunc(ctx context.Context) error {
	_, err := debpkg.Need(ctx, "runc", "runc")
	return err
}

func needFixtures(t *testing.T) {
	t.Helper()
	if fx.err != nil {
		t.Fatalf("build test fixtures: %v", fx.err)
	}
}
