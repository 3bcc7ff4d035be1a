package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestGoBinaryRecordsModuleVersion(t *testing.T) {
	bin, err := GoBinary(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, d := range bi.Deps {
		if d.Path == GoModule {
			got = d.Version
		}
	}
	if got != "v"+GoModuleVersion {
		t.Fatalf("binary records %s %q, want v%s", GoModule, got, GoModuleVersion)
	}
}

func TestWritersRoundTrip(t *testing.T) {
	img, err := Vulnerable([]byte("\x7fELF not really"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	docker := filepath.Join(dir, "img.tar")
	if err := WriteDockerArchive(img, "tollgate/fixture:1", docker); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(docker, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, back)
	for _, f := range []string{"lib/apk/db/installed", "etc/os-release", GoBinaryPath, AppDir + "/node_modules/lodash/package.json", AppDir + "/package-lock.json"} {
		if _, ok := files[f]; !ok {
			t.Errorf("docker archive lacks %s", f)
		}
	}
	if !strings.Contains(files["lib/apk/db/installed"], "P:libcrypto3\nV:3.1.4-r0") || !strings.Contains(files["lib/apk/db/installed"], "o:openssl") {
		t.Errorf("apk db does not list libcrypto3 3.1.4-r0 from openssl:\n%s", files["lib/apk/db/installed"])
	}

	lay := filepath.Join(dir, "layout")
	if err := WriteOCILayout(img, lay); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	back2, err := p.Image(want)
	if err != nil {
		t.Fatalf("layout lacks image %s: %v", want, err)
	}
	if d, _ := back2.Digest(); d != want {
		t.Fatalf("layout digest %s, want %s", d, want)
	}

	ociTar := filepath.Join(dir, "img.oci.tar")
	if err := WriteOCIArchive(img, ociTar); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, ociTar)
	if !names["oci-layout"] || !names["index.json"] || !names["blobs/sha256/"+want.Hex] {
		t.Fatalf("OCI archive entries %v lack oci-layout, index.json or the manifest blob", names)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(leftovers) > 0 {
		t.Fatalf("temp files left: %v", leftovers)
	}
}

func TestCleanHasNoOpenSSL(t *testing.T) {
	img, err := Clean()
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	if db := files["lib/apk/db/installed"]; !strings.Contains(db, "P:busybox") || strings.Contains(db, "openssl") {
		t.Fatalf("clean apk db:\n%s", db)
	}
}

func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func tarNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = true
	}
}
