package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// sameImage checks that a layout holds the archive's image: same config (image ID), same layers
// by digest and diff ID, same bytes.
func sameImage(t *testing.T, archive v1.Image, dir string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v %+v", err, im)
	}
	got, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := archive.ConfigName()
	gotID, _ := got.ConfigName()
	if wantID != gotID {
		t.Errorf("image ID %s, want %s", gotID, wantID)
	}
	wl, _ := archive.Layers()
	gl, err := got.Layers()
	if err != nil || len(gl) != len(wl) {
		t.Fatalf("layers: %v, %d want %d", err, len(gl), len(wl))
	}
	for i := range wl {
		wd, _ := wl[i].DiffID()
		gd, err := gl[i].DiffID()
		if err != nil || gd != wd {
			t.Errorf("layer %d diff ID %s (%v), want %s", i, gd, err, wd)
		}
		rc, err := gl[i].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := h.Write(mustReadAll(t, rc)); err != nil {
			t.Fatal(err)
		}
		if "sha256:"+hex.EncodeToString(h.Sum(nil)) != wd.String() {
			t.Errorf("layer %d content does not match its diff ID", i)
		}
	}
	return got
}

func mustReadAll(t *testing.T, rc interface{ Read([]byte) (int, error) }) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDockerArchiveLayoutKeepsTheImage(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(t, "linux/amd64")
	archive := writeDockerArchive(t, dir, img)
	src, err := Open(context.Background(), archive, dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DockerArchiveLayout(context.Background(), src, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := sameImage(t, img, out)
	m, _ := got.Manifest()
	for _, l := range m.Layers {
		if l.MediaType != mtOCILayerGzip {
			t.Errorf("layer media type %s, want %s (compression kept)", l.MediaType, mtOCILayerGzip)
		}
	}
	// The layout is a valid input in its own right, tag and all.
	lsrc, err := Open(context.Background(), out, dir)
	if err != nil {
		t.Fatalf("the layout does not open: %v", err)
	}
	if lsrc.Kind != KindOCILayout {
		t.Errorf("kind %s", lsrc.Kind)
	}
	b, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if !strings.Contains(string(b), "example.test/app:1") {
		t.Errorf("index.json lacks the archive's tag: %s", b)
	}
}

// TestDockerArchiveLayoutLegacyFormat reads what older `docker save` writes: uncompressed
// <id>/layer.tar members, a repeated layer stored once and linked, manifest.json at the end.
func TestDockerArchiveLayoutLegacyFormat(t *testing.T) {
	dir := t.TempDir()
	layerTar := func(name, body string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
		tw.Close()
		return b.Bytes()
	}
	l1, l2 := layerTar("etc/a", "one"), layerTar("etc/b", "two")
	diff := func(b []byte) v1.Hash {
		s := sha256.Sum256(b)
		return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	}
	cf := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diff(l1), diff(l2), diff(l1)}}}
	cfg, _ := json.Marshal(cf)
	cfgName := diff(cfg).Hex + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"legacy:1"},
		"Layers": []string{"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"}}})
	archive := filepath.Join(dir, "legacy.tar")
	f, _ := os.Create(archive)
	tw := tar.NewWriter(f)
	add := func(h *tar.Header, body []byte) {
		h.Size, h.Mode = int64(len(body)), 0o644
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	add(&tar.Header{Name: "aaa/", Typeflag: tar.TypeDir}, nil)
	add(&tar.Header{Name: "aaa/layer.tar", Typeflag: tar.TypeReg}, l1)
	add(&tar.Header{Name: "bbb/layer.tar", Typeflag: tar.TypeReg}, l2)
	add(&tar.Header{Name: "ccc/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../aaa/layer.tar"}, nil)
	add(&tar.Header{Name: cfgName, Typeflag: tar.TypeReg}, cfg)
	add(&tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg}, manifest)
	tw.Close()
	f.Close()

	src, err := Open(context.Background(), archive, dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DockerArchiveLayout(context.Background(), src, dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := layout.ImageIndexFromPath(out)
	im, _ := idx.IndexManifest()
	got, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := got.Manifest()
	if len(m.Layers) != 3 || m.Layers[0].Digest != m.Layers[2].Digest || m.Layers[0].MediaType != mtOCILayer {
		t.Fatalf("layers %+v: want 3, the first repeated as the third, uncompressed", m.Layers)
	}
	for i, want := range []v1.Hash{diff(l1), diff(l2), diff(l1)} {
		if m.Layers[i].Digest != want { // uncompressed: the blob digest is the diff ID
			t.Errorf("layer %d digest %s, want %s", i, m.Layers[i].Digest, want)
		}
	}
	if id, _ := got.ConfigName(); id != diff(cfg) {
		t.Errorf("image ID %s, want %s", id, diff(cfg))
	}
}

func TestDockerArchiveLayoutRefusesOtherInputs(t *testing.T) {
	dir := t.TempDir()
	lay := writeLayout(t, filepath.Join(dir, "lay"), []v1.Image{randomImage(t, "")}, nil)
	src, err := Open(context.Background(), lay, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DockerArchiveLayout(context.Background(), src, dir); err == nil {
		t.Error("a layout dir was converted")
	}
	// A member listed in manifest.json that is missing (the archive changed after Open).
	img := randomImage(t, "")
	archive := writeDockerArchive(t, dir, img)
	asrc, err := Open(context.Background(), archive, dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(archive, []byte("not a tar any more"), 0o644)
	if _, err := DockerArchiveLayout(context.Background(), asrc, dir); err == nil {
		t.Error("a broken archive was converted")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "trivy-layout-*")); len(left) > 0 {
		t.Errorf("failed conversions left %v", left)
	}
}
