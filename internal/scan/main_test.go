package scan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

// fixtures are built once per test binary: the offline DB from fixtures/advisories and the
// fixture images in every input format.
var fx struct {
	dir        string
	cacheDir   string // trivy cache dir holding db/ (fresh)
	vulnDocker string
	vulnOCITar string
	vulnLayout string
	cleanTar   string
	buildErr   error
}

func TestMain(m *testing.M) {
	tools.EnsureForTests("trivy", "syft") // built into the shared tool cache, outside the test timeout
	dir, err := os.MkdirTemp("", "tollgate-scan-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fx.dir = dir
	fx.buildErr = buildFixtures(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildFixtures(dir string) error {
	ctx := context.Background()
	fx.cacheDir = filepath.Join(dir, "trivy-cache")
	if err := trivydb.Build(ctx, "../../fixtures/advisories", fx.cacheDir, time.Now()); err != nil {
		return err
	}
	bin, err := testimage.GoBinary(ctx, dir)
	if err != nil {
		return err
	}
	vuln, err := testimage.Vulnerable(bin)
	if err != nil {
		return err
	}
	clean, err := testimage.Clean()
	if err != nil {
		return err
	}
	fx.vulnDocker = filepath.Join(dir, "vulnerable.tar")
	fx.vulnOCITar = filepath.Join(dir, "vulnerable.oci.tar")
	fx.vulnLayout = filepath.Join(dir, "vulnerable-layout")
	fx.cleanTar = filepath.Join(dir, "clean.tar")
	if err := testimage.WriteDockerArchive(vuln, "tollgate/fixture-vulnerable:1", fx.vulnDocker); err != nil {
		return err
	}
	if err := testimage.WriteOCIArchive(vuln, fx.vulnOCITar); err != nil {
		return err
	}
	if err := testimage.WriteOCILayout(vuln, fx.vulnLayout); err != nil {
		return err
	}
	return testimage.WriteDockerArchive(clean, "tollgate/fixture-clean:1", fx.cleanTar)
}

// needFixtures fails the test when the shared fixtures could not be built.
func needFixtures(t *testing.T) {
	t.Helper()
	if fx.buildErr != nil {
		t.Fatalf("building test fixtures: %v", fx.buildErr)
	}
}

// installer is the real tool cache; TestMain installed the tools the tests need, so a test
// never builds one inside its own timeout.
func installer() *tools.Installer {
	return &tools.Installer{CacheDir: tools.DefaultCacheDir()}
}

// toolPath returns an installed pinned tool.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	p, err := installer().Ensure(context.Background(), name)
	if err != nil {
		t.Fatalf("%s missing after TestMain installed it: %v", name, err)
	}
	return p
}
