package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/debpkg"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

// buildFx serves the build tests: the pinned tools a build-scan-push run needs (installed
// before the tests start, so building them does not count against the test timeout), runc
// from Debian, an offline trivy DB and a loopback registry serving the Builder base image.
var buildFx struct {
	registry string // host:port, plain HTTP on 127.0.0.1
	db       string // trivy cache dir holding db/
	err      error
}

func TestMain(m *testing.M) {
	// `tollgate run` in these tests runs validate and score for real: their pinned tools are built
	// into the shared tool cache before the tests, outside the test timeout.
	if os.Getenv(cliProcessEnv) == "1" { // a tollgate process started by a test
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	tools.EnsureForTests("kubeconform", "kube-score", "syft", "trivy")
	dir, err := os.MkdirTemp("", "tollgate-cli-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	host, stop := testimage.OpenRegistry()
	buildFx.registry = host
	buildFx.err = setupBuild(context.Background(), dir)
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func setupBuild(ctx context.Context, dir string) error {
	if _, err := debpkg.Need(ctx, "runc", "runc"); err != nil {
		return err
	}
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	for _, t := range []string{"buildkitd", "syft", "trivy"} {
		if _, err := in.Ensure(ctx, t); err != nil {
			return err
		}
	}
	buildFx.db = filepath.Join(dir, "trivy-cache")
	if err := trivydb.Build(ctx, filepath.Join("..", "..", "fixtures", "advisories"), buildFx.db, time.Now()); err != nil {
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
	return testimage.Push(img, buildFx.registry+"/"+testimage.BuilderRepository+":"+testimage.BuilderTag)
}

func needBuildFixtures(t *testing.T) {
	t.Helper()
	if buildFx.err != nil {
		t.Fatalf("build test fixtures: %v", buildFx.err)
	}
}
