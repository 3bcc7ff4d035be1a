package push

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ociArchive writes img as an OCI archive (what the build stage produces).
func ociArchive(t *testing.T, img v1.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.oci.tar")
	if err := testimage.WriteOCIArchive(img, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushByDigestAndTags(t *testing.T) {
	host, stop := testimage.OpenRegistry()
	defer stop()
	img := randomImage(t)
	want, _ := img.Digest()
	got, err := Push(context.Background(), Request{Image: ociArchive(t, img), Repository: host + "/team/app", Tags: []string{"1.0", "stable"}, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != host+"/team/app@"+want.String() || got.Digest != want.String() {
		t.Fatalf("pushed %+v, want digest %s", got, want)
	}
	for _, tag := range []string{"1.0", "stable"} {
		r, _ := name.ParseReference(host+"/team/app:"+tag, name.Insecure)
		d, err := remote.Head(r)
		if err != nil || d.Digest != want {
			t.Errorf("tag %s -> %v, %v", tag, d, err)
		}
	}
}

func TestPushIndexKeepsEveryPlatform(t *testing.T) {
	host, stop := testimage.OpenRegistry()
	defer stop()
	a, b := randomImage(t), randomImage(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: a, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: b, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := writeLayoutIndex(dir, idx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	got, err := Push(context.Background(), Request{Image: lp, Repository: host + "/multi/app", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want.String() {
		t.Fatalf("pushed %s, want the index %s", got.Digest, want)
	}
	r, _ := name.ParseReference(got.Ref, name.Insecure)
	ri, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ri.IndexManifest()
	if len(m.Manifests) != 2 {
		t.Errorf("pushed index has %d manifests", len(m.Manifests))
	}
}

func TestRegistryFaults(t *testing.T) {
	img := randomImage(t)
	archive := ociArchive(t, img)
	refused := func() (string, func()) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := strings.TrimPrefix(srv.URL, "http://")
		srv.Close() // nothing listens there any more
		return addr, func() {}
	}
	silent := func() (string, func()) {
		addr, stop, err := testimage.SilentListener()
		if err != nil {
			t.Fatal(err)
		}
		return addr, stop
	}
	// A registry that takes blobs but fails the manifest: the push stops half-way.
	partial := func() (string, func()) {
		reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				http.Error(w, "storage full", http.StatusInternalServerError)
				return
			}
			reg.ServeHTTP(w, r)
		}))
		return strings.TrimPrefix(srv.URL, "http://"), srv.Close
	}
	// The manifest goes through but a tag is refused: still not pushed.
	tagRefused := func() (string, func()) {
		reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/stable") {
				http.Error(w, "tag protected", http.StatusInternalServerError)
				return
			}
			reg.ServeHTTP(w, r)
		}))
		return strings.TrimPrefix(srv.URL, "http://"), srv.Close
	}
	tests := []struct {
		name   string
		server func() (string, func())
		want   string
	}{
		{"connection refused", refused, "connection refused"},
		{"registry never answers", silent, "did not answer within"},
		{"manifest refused after the blobs", partial, "500"},
		{"tag refused", tagRefused, "tag "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, stop := tt.server()
			defer stop()
			start := time.Now()
			got, err := Push(context.Background(), Request{Image: archive, Repository: host + "/app", Tags: []string{"stable"}, Insecure: true,
				ReachTimeout: 2 * time.Second, Timeout: 20 * time.Second})
			var te *model.ToolError
			if !errors.As(err, &te) || got != nil {
				t.Fatalf("want *model.ToolError and nothing pushed, got %v, %T %v", got, err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s: an unreachable registry must fail in bounded time", d)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	host, stop := testimage.Registry("ci", "s3cret-push")
	defer stop()
	archive := ociArchive(t, randomImage(t))
	t.Run("from env", func(t *testing.T) {
		t.Setenv("TOLLGATE_REGISTRY_USERNAME", "ci")
		t.Setenv("TOLLGATE_REGISTRY_PASSWORD", "s3cret-push")
		if _, err := Push(context.Background(), Request{Image: archive, Repository: host + "/app", Insecure: true}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong password is bad input and not echoed", func(t *testing.T) {
		t.Setenv("TOLLGATE_REGISTRY_USERNAME", "ci")
		t.Setenv("TOLLGATE_REGISTRY_PASSWORD", "wrong-canary-77")
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		_, err := Push(context.Background(), Request{Image: archive, Repository: host + "/app", Insecure: true})
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Fatalf("want *model.InputError, got %T %v", err, err)
		}
		if strings.Contains(err.Error(), "wrong-canary-77") {
			t.Error("password in the error message")
		}
	})
}

func TestPlainHTTPOnlyWhenInsecure(t *testing.T) {
	host, stop := testimage.OpenRegistry()
	defer stop()
	_, err := Push(context.Background(), Request{Image: ociArchive(t, randomImage(t)), Repository: host + "/app", ReachTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("plain HTTP without push.insecure: got %v", err)
	}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, err = Push(context.Background(), Request{Image: ociArchive(t, randomImage(t)), Repository: "10.0.0.1:5000/app", Insecure: true})
	var ie *model.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("insecure non-loopback registry: got %T %v", err, err)
	}
	// The guard itself: plain HTTP to a non-loopback host is refused before any request.
	req, _ := http.NewRequest(http.MethodGet, "http://192.168.1.10:5000/v2/", nil)
	if _, err := guard(true).RoundTrip(req); err == nil {
		t.Error("plain HTTP to a private address was allowed")
	}
}

func TestOpenRejectsNonImages(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.tar": "", "text.txt": "not an image"} {
		p := filepath.Join(dir, name)
		if err := writeFile(p, content); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p, dir)
		var ie *model.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: want *model.InputError, got %T %v", name, err, err)
		}
	}
}
