package discover_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// TestMain builds the pinned tools the end-to-end runs need (kubeconform, kube-score, helm)
// before any test starts, through the installer the CLI uses.
func TestMain(m *testing.M) {
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	for _, name := range []string{"kubeconform", "kube-score", "helm"} {
		if _, err := in.Ensure(context.Background(), name); err != nil {
			fmt.Fprintf(os.Stderr, "install %s: %v\n", name, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// fixture returns a fresh copy of fixtures/NAME, so tests can add to it.
func fixture(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "fixtures", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func write(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
