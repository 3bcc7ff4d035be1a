package servetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

// Fixtures are built once per test binary.
type Fixtures struct {
	Vulnerable v1.Image // every testimage.Planted CVE
	Clean      v1.Image // no CVE
	Advisories string   // fixtures/advisories
}

// BuildFixtures builds the fixture images (compiling the planted Go binary in dir).
func BuildFixtures(dir, advisories string) (*Fixtures, error) {
	bin, err := testimage.GoBinary(context.Background(), dir)
	if err != nil {
		return nil, err
	}
	vuln, err := testimage.Vulnerable(bin)
	if err != nil {
		return nil, err
	}
	clean, err := testimage.Clean()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(advisories)
	if err != nil {
		return nil, err
	}
	return &Fixtures{Vulnerable: vuln, Clean: clean, Advisories: abs}, nil
}

// Variant is img with one extra small layer naming i: a distinct digest with the same
// packages (and so the same CVEs).
func Variant(img v1.Image, i int) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := []byte(fmt.Sprintf("variant %d\n", i))
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/tollgate-variant", Mode: 0o644, Size: int64(len(data)), ModTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	tw.Write(data)
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, l)
}

// Push writes img to the registry under repo:tag and returns the pinned reference.
func (r *Registry) Push(t testing.TB, img v1.Image, repo, tag string) string {
	t.Helper()
	ref, err := name.NewTag(r.Host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass})); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return r.Host + "/" + repo + "@" + d.String()
}

// Delete removes a manifest from the registry (its digest then no longer exists).
func (r *Registry) Delete(t testing.TB, pinned string) {
	t.Helper()
	ref, err := name.NewDigest(pinned, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass})); err != nil {
		t.Fatalf("delete %s: %v", pinned, err)
	}
}

// BuildDB builds the offline trivy DB from the advisory feeds into cacheDir (db/ inside).
func BuildDB(t testing.TB, advisories, cacheDir string, now time.Time) {
	t.Helper()
	if err := trivydb.Build(context.Background(), advisories, cacheDir, now); err != nil {
		t.Fatal(err)
	}
}

// AdvisoriesWith copies the advisory feeds into a temp dir and adds one more GHSA advisory
// (path relative to ghsa/advisories/github-reviewed), returning the copy.
func AdvisoriesWith(t testing.TB, advisories, relPath, content string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "advisories")
	err := filepath.WalkDir(advisories, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(advisories, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dst, "ghsa", "advisories", "github-reviewed", relPath)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
