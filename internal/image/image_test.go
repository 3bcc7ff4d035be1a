package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

func randomImage(t *testing.T, platform string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func writeDockerArchive(t *testing.T, dir string, img v1.Image) string {
	t.Helper()
	p := filepath.Join(dir, "app.tar")
	tag, _ := name.NewTag("example.test/app:1")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeLayout writes images (with platforms when given) into an OCI layout directory.
func writeLayout(t *testing.T, dir string, imgs []v1.Image, plats []string) string {
	t.Helper()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		var opts []layout.Option
		if i < len(plats) && plats[i] != "" {
			p, _ := v1.ParsePlatform(plats[i])
			opts = append(opts, layout.WithPlatform(*p))
		}
		if err := lp.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarDir packs a directory into a tarball the way `tar -C dir -cf out .` would.
func tarDir(t testing.TB, dir, out string, extra map[string]string) string {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range extra {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantInputError(t *testing.T, err error, file, contains string) {
	t.Helper()
	var ie *model.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want *model.InputError, got %T: %v", err, err)
	}
	if file != "" && ie.File != file {
		t.Errorf("InputError.File = %q, want %q (err: %v)", ie.File, file, err)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}

func TestOpenDockerArchive(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(t, "linux/amd64")
	p := writeDockerArchive(t, dir, img)
	src, err := Open(context.Background(), p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != KindDockerArchive || src.Path != p || src.Input != p {
		t.Fatalf("got %+v", src)
	}
	if got := src.SyftArg(); got != "docker-archive:"+p {
		t.Errorf("SyftArg = %q", got)
	}
	if got := strings.Join(src.TrivyArgs(), " "); got != "--input "+p {
		t.Errorf("TrivyArgs = %q", got)
	}
	if src.Platform != "linux/amd64" {
		t.Errorf("Platform = %q", src.Platform)
	}

	// The same archive gzipped is decompressed into the work dir.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	b, _ := os.ReadFile(p)
	zw.Write(b)
	zw.Close()
	gz := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(gz, buf.Bytes(), 0o644)
	work := t.TempDir()
	src, err = Open(context.Background(), gz, work)
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != KindDockerArchive || !strings.HasPrefix(src.Path, work) {
		t.Fatalf("gzip: got %+v", src)
	}
}

func TestOpenOCILayoutAndArchive(t *testing.T) {
	img := randomImage(t, "")
	dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), []v1.Image{img}, nil)

	src, err := Open(context.Background(), dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != KindOCILayout || src.Path != dir || src.Digest != digestOf(t, img) {
		t.Fatalf("layout dir: got %+v", src)
	}
	if src.SyftArg() != "oci-dir:"+dir {
		t.Errorf("SyftArg = %q", src.SyftArg())
	}

	// trivy would read "x:1" as layout x, tag 1: such a path is handed over through a plain link.
	odd := filepath.Join(t.TempDir(), "app:1")
	if err := os.Rename(dir, odd); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if src, err = Open(context.Background(), odd, work); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(src.Path, ":@") || !strings.HasPrefix(src.Path, work) {
		t.Errorf("path with a colon handed to trivy as %q", src.Path)
	}
	if _, err := layout.ImageIndexFromPath(src.Path); err != nil {
		t.Errorf("linked layout does not load: %v", err)
	}
	if err := os.Rename(odd, dir); err != nil {
		t.Fatal(err)
	}

	// As a tarball (the form syft's oci-archive reads but trivy --input does not) it is
	// extracted into the work dir; stray and traversal entries are not written.
	archive := tarDir(t, dir, filepath.Join(t.TempDir(), "app-oci.tar"), map[string]string{
		"../escape": "x", "blobs/sha256/../../../escape2": "y", "manifest.jsonx": "z",
	})
	work = t.TempDir()
	src, err = Open(context.Background(), archive, work)
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != KindOCIArchive || !strings.HasPrefix(src.Path, work) || src.Digest != digestOf(t, img) {
		t.Fatalf("oci archive: got %+v", src)
	}
	if got := src.TrivyArgs(); len(got) != 2 || got[1] != src.Path {
		t.Errorf("TrivyArgs = %v", got)
	}
	// The extracted layout loads with go-containerregistry, like trivy will load it.
	ii, err := layout.ImageIndexFromPath(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(src.Digest)
	got, err := ii.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	if ls, err := got.Layers(); err != nil || len(ls) != 2 {
		t.Fatalf("layers: %v %v", len(ls), err)
	}
	for _, esc := range []string{"escape", "escape2"} {
		for _, d := range []string{filepath.Dir(work), work, filepath.Dir(src.Path)} {
			if _, err := os.Stat(filepath.Join(d, esc)); err == nil {
				t.Errorf("traversal entry %s was written to %s", esc, d)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(src.Path, "manifest.jsonx")); err == nil {
		t.Error("stray entry was extracted")
	}
}

func TestOpenMultiImageIndex(t *testing.T) {
	arm, amd := randomImage(t, "linux/arm64"), randomImage(t, "linux/amd64")
	dir := writeLayout(t, filepath.Join(t.TempDir(), "multi"), []v1.Image{arm, amd}, []string{"linux/arm64", "linux/amd64"})
	src, err := Open(context.Background(), dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src.Digest != digestOf(t, amd) || src.Platform != "linux/amd64" || !strings.Contains(src.Note, "picked the linux/amd64 image") {
		t.Fatalf("got %+v", src)
	}
	// The tools see a layout holding only the chosen image (trivy takes the first manifest).
	ii, err := layout.ImageIndexFromPath(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ii.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != digestOf(t, amd) {
		t.Fatalf("pruned index = %+v", im.Manifests)
	}

	// A nested index (buildx style) with an attestation manifest is walked the same way.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomImage(t, ""), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}},
	)
	nested := filepath.Join(t.TempDir(), "nested")
	lp, err := layout.Write(nested, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	src, err = Open(context.Background(), nested, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src.Digest != digestOf(t, amd) {
		t.Fatalf("nested: got %+v", src)
	}

	// Several images and none for linux/amd64: the user must choose.
	none := writeLayout(t, filepath.Join(t.TempDir(), "none"), []v1.Image{arm, randomImage(t, "")}, []string{"linux/arm64", "linux/s390x"})
	_, err = Open(context.Background(), none, t.TempDir())
	wantInputError(t, err, none, "none is linux/amd64")
}

func TestOpenBadInputs(t *testing.T) {
	dir := t.TempDir()
	img := randomImage(t, "")
	good := writeDockerArchive(t, dir, img)
	goodBytes, _ := os.ReadFile(good)
	ociDir := writeLayout(t, filepath.Join(dir, "layout"), []v1.Image{img}, nil)
	ociTar := tarDir(t, ociDir, filepath.Join(dir, "oci.tar"), nil)
	ociBytes, _ := os.ReadFile(ociTar)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	randomBytes := make([]byte, 4096)
	rand.Read(randomBytes)
	plainTar := tarDir(t, t.TempDir(), filepath.Join(dir, "plain.tar"), map[string]string{"etc/passwd": "root:x:0:0\n", "README": "hi"})

	// A blob whose bytes no longer match its digest (same size, so only hashing notices).
	corruptBlob := bytes.Clone(ociBytes)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	lsize, _ := layers[0].Size()
	if i := bytes.Index(corruptBlob, []byte("blobs/sha256/"+ld.Hex)); i < 0 {
		t.Fatal("layer entry not found in OCI tar")
	} else {
		off := i + 512 + int(lsize)/2 // inside the layer data after its 512-byte header
		corruptBlob[off] ^= 0xff
	}

	// A docker archive whose manifest lists two images.
	twoImgs := filepath.Join(dir, "two.tar")
	t1, _ := name.NewTag("example.test/a:1")
	t2, _ := name.NewTag("example.test/b:1")
	if err := tarball.MultiRefWriteToFile(twoImgs, map[name.Reference]v1.Image{t1: img, t2: randomImage(t, "")}); err != nil {
		t.Fatal(err)
	}
	zeroBlocks := make([]byte, 1024)

	tests := []struct {
		name, path, want string
	}{
		{"empty file", write("empty.tar", nil), "empty"},
		{"random bytes", write("random.tar", randomBytes), "not a valid tar"},
		{"end-of-archive only", write("zero.tar", zeroBlocks), "no entries"},
		{"tar that is not an image", plainTar, "not a container image"},
		{"truncated docker archive", write("trunc.tar", goodBytes[:len(goodBytes)/2]), "truncated"},
		{"truncated OCI archive", write("trunc-oci.tar", ociBytes[:len(ociBytes)*2/3]), "truncated"},
		{"archive without its end marker", write("cut.tar", ociBytes[:len(ociBytes)-1024]), "truncated"},
		{"corrupt OCI blob", write("corrupt.tar", corruptBlob), "corrupt"},
		{"corrupt gzip", write("bad.tar.gz", append([]byte{0x1f, 0x8b}, randomBytes...)), "gzip"},
		{"two images in a docker archive", twoImgs, "holds 2 images"},
		{"directory that is not a layout", t.TempDir(), "not an OCI image layout"},
		{"missing file that looks like a path", filepath.Join(dir, "nope.tar"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.path, t.TempDir())
			wantInputError(t, err, tc.path, tc.want)
		})
	}

	t.Run("layout with a missing layer", func(t *testing.T) {
		d := writeLayout(t, filepath.Join(t.TempDir(), "l"), []v1.Image{img}, nil)
		os.Remove(filepath.Join(d, "blobs", "sha256", ld.Hex))
		_, err := Open(context.Background(), d, t.TempDir())
		wantInputError(t, err, d, "missing")
	})
	t.Run("invalid reference", func(t *testing.T) {
		_, err := Open(context.Background(), "Bad::Ref//x", t.TempDir())
		wantInputError(t, err, "", "valid registry reference")
	})
	t.Run("extraction limits", func(t *testing.T) {
		_, err := OpenWithLimits(context.Background(), ociTar, t.TempDir(), Limits{MaxExtractBytes: 1024, MaxEntries: 1000})
		wantInputError(t, err, ociTar, "exceeds")
		_, err = OpenWithLimits(context.Background(), ociTar, t.TempDir(), Limits{MaxExtractBytes: 1 << 30, MaxEntries: 3})
		wantInputError(t, err, ociTar, "entries")
	})
}

// startRegistry runs go-containerregistry's in-memory registry on 127.0.0.1, optionally
// behind basic auth.
func startRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestOpenRegistry(t *testing.T) {
	t.Setenv(EnvRegistryUsername, "")
	t.Setenv(EnvRegistryPassword, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no docker login of the machine leaks in
	host := startRegistry(t, "", "")
	img := randomImage(t, "linux/amd64")
	ref, _ := name.ParseReference(host + "/team/app:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), host+"/team/app:v1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := host + "/team/app@" + digestOf(t, img)
	if src.Kind != KindRegistry || src.Ref != want || src.Digest != digestOf(t, img) || src.Path != "" {
		t.Fatalf("got %+v, want ref %s", src, want)
	}
	if src.SyftArg() != "registry:"+want || strings.Join(src.TrivyArgs(), " ") != want {
		t.Errorf("args: %q %v", src.SyftArg(), src.TrivyArgs())
	}
	if src.TrivyEnv(CredentialsFromEnv()) != nil {
		t.Error("no credentials set, but TrivyEnv is not empty")
	}

	// A multi-platform index in the registry resolves to the amd64 manifest.
	arm := randomImage(t, "linux/arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	iref, _ := name.ParseReference(host + "/team/multi:v1")
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	src, err = Open(context.Background(), "registry:"+host+"/team/multi:v1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if src.Digest != digestOf(t, img) || src.Platform != "linux/amd64" {
		t.Fatalf("index: got %+v", src)
	}

	_, err = Open(context.Background(), host+"/team/app:missing", t.TempDir())
	wantInputError(t, err, "", "not found")

	// A registry that cannot be reached is infrastructure, not the user's input: exit 3.
	_, err = Open(context.Background(), "127.0.0.1:1/team/app:v1", t.TempDir())
	var te *model.ToolError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "not a local file") {
		t.Errorf("unreachable registry: want ToolError, got %T %v", err, err)
	}
}

func TestOpenRegistryCredentials(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := startRegistry(t, "ci", "s3cret")
	img := randomImage(t, "")
	ref, _ := name.ParseReference(host + "/private/app:v1")
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}

	t.Setenv(EnvRegistryUsername, "")
	t.Setenv(EnvRegistryPassword, "")
	_, err := Open(context.Background(), host+"/private/app:v1", t.TempDir())
	wantInputError(t, err, "", "access denied")

	t.Setenv(EnvRegistryUsername, "ci")
	t.Setenv(EnvRegistryPassword, "s3cret")
	src, err := Open(context.Background(), host+"/private/app:v1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := CredentialsFromEnv()
	te, se := strings.Join(src.TrivyEnv(c), " "), strings.Join(src.SyftEnv(c), " ")
	if te != "TRIVY_USERNAME=ci TRIVY_PASSWORD=s3cret" {
		t.Errorf("TrivyEnv = %q", te)
	}
	if se != "SYFT_REGISTRY_AUTH_AUTHORITY="+host+" SYFT_REGISTRY_AUTH_USERNAME=ci SYFT_REGISTRY_AUTH_PASSWORD=s3cret" {
		t.Errorf("SyftEnv = %q", se)
	}
	for _, a := range append(src.TrivyArgs(), src.SyftArg(), src.Ref, src.Note) {
		if strings.Contains(a, "s3cret") {
			t.Errorf("secret leaked into %q", a)
		}
	}
}

// ResolveRegistry takes credentials as an argument (the Dagger module has them from a secret)
// and never from the environment.
func TestResolveRegistryExplicitCredentials(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(EnvRegistryUsername, "ci")
	t.Setenv(EnvRegistryPassword, "s3cret")
	host := startRegistry(t, "ci", "s3cret")
	img := randomImage(t, "")
	ref, _ := name.ParseReference(host + "/private/app:v1")
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	const hint = "pass --registry-username and --registry-password"
	_, err := ResolveRegistry(context.Background(), ref.String(), Credentials{}, hint)
	wantInputError(t, err, "", "access denied ("+hint+")")
	_, err = ResolveRegistry(context.Background(), ref.String(), Credentials{Username: "ci", Password: "wrong"}, hint)
	wantInputError(t, err, "", "access denied")

	src, err := ResolveRegistry(context.Background(), ref.String(), Credentials{Username: "ci", Password: "s3cret"}, hint)
	if err != nil {
		t.Fatal(err)
	}
	want := host + "/private/app@" + digestOf(t, img)
	if src.Kind != KindRegistry || src.Ref != want || src.Digest != digestOf(t, img) {
		t.Errorf("got %+v, want Ref %s", src, want)
	}
	if strings.Contains(src.Note+src.Ref, "s3cret") {
		t.Errorf("secret in %+v", src)
	}
	_, err = ResolveRegistry(context.Background(), host+"/private/app:missing", Credentials{Username: "ci", Password: "s3cret"}, hint)
	wantInputError(t, err, "", "not found")
}

func TestSharedOpensOnce(t *testing.T) {
	img := randomImage(t, "")
	ociDir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), []v1.Image{img}, nil)
	ociTar := tarDir(t, ociDir, filepath.Join(t.TempDir(), "oci.tar"), nil)
	work := t.TempDir()
	sh := &stage.Shared{}
	var wg sync.WaitGroup
	srcs := make([]*Source, 4)
	for i := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Shared(context.Background(), sh, ociTar, work)
			if err != nil {
				t.Error(err)
			}
			srcs[i] = s
		}()
	}
	wg.Wait()
	for _, s := range srcs[1:] {
		if s != srcs[0] {
			t.Fatal("Shared returned different sources for one input")
		}
	}
	ents, _ := os.ReadDir(work)
	if len(ents) != 1 {
		t.Errorf("work dir has %d entries, want one extraction", len(ents))
	}
	if v, ok := sh.Get(SharedKey); !ok || v.(*Source) != srcs[0] {
		t.Error("source not stored under SharedKey")
	}
}

// BenchmarkOpen measures normalisation of a 64 MiB image: a docker archive is only inspected,
// an OCI archive is extracted (and every blob hashed) once.
func BenchmarkOpen(b *testing.B) {
	img, err := random.Image(16<<20, 4)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	docker := filepath.Join(dir, "app.tar")
	tag, _ := name.NewTag("example.test/app:1")
	if err := tarball.WriteToFile(docker, tag, img); err != nil {
		b.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		b.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		b.Fatal(err)
	}
	oci := tarDir(b, string(lp), filepath.Join(dir, "app-oci.tar"), nil)
	for _, in := range []struct{ name, path string }{{"docker-archive", docker}, {"oci-archive", oci}} {
		b.Run(in.name, func(b *testing.B) {
			fi, _ := os.Stat(in.path)
			b.SetBytes(fi.Size())
			for b.Loop() {
				work := b.TempDir()
				if _, err := Open(context.Background(), in.path, work); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
