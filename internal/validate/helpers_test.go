package validate

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/schemas"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// testCache is a per-test-binary cache dir: schemas are generated fresh by this binary's code
// (never a stale cache built by older code), once, and shared by every test.
var (
	schemaOnce sync.Once
	schemaDir  string
	schemaErr  error
	cacheRoot  string
)

func TestMain(m *testing.M) {
	tools.EnsureForTests("kubeconform") // built into the shared tool cache, outside the test timeout
	var err error
	cacheRoot, err = os.MkdirTemp("", "tollgate-validate-test-*")
	if err != nil {
		panic(err)
	}
	// The CLI tests use cacheRoot as --cache-dir: pinned tools come from the real cache, schemas
	// are generated fresh into cacheRoot by this binary's code.
	if err := os.Symlink(filepath.Join(tools.DefaultCacheDir(), "tools"), filepath.Join(cacheRoot, "tools")); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(cacheRoot)
	os.Exit(code)
}

// builtinSchemas returns the v1.36.0 schema dir, generated from the pinned k8s.io/kubernetes
// module (fetched through the Go module proxy, or the module cache when already there).
func builtinSchemas(t *testing.T) string {
	t.Helper()
	schemaOnce.Do(func() {
		schemaDir, schemaErr = schemas.Build(context.Background(), schemas.Options{K8sVersion: "1.36.0", CacheDir: cacheRoot})
	})
	if schemaErr != nil {
		t.Fatalf("build schemas: %v", schemaErr)
	}
	return schemaDir
}

// kubeconform returns the pinned kubeconform binary.
func kubeconform(t *testing.T) string {
	t.Helper()
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir()}
	p, err := in.Ensure(context.Background(), toolName)
	if err != nil {
		t.Fatalf("kubeconform is not installed (%v): run `go run ./cmd/tollgate tools install kubeconform`", err)
	}
	return p
}

// fixtures is the repo's fixtures/manifests dir.
func fixtures(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "fixtures", "manifests")
}

func defaultOptions() Options {
	return Options{KubernetesVersion: "1.36.0", Strict: true, MissingSchemaSeverity: 4, Workers: 2}
}
