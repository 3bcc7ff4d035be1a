package cosign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The registry tests run the pinned cosign against Debian's docker-registry (CNCF Distribution)
// started on 127.0.0.1. Nothing may leave the machine: HTTP(S)_PROXY points every non-loopback
// request cosign could make (Rekor, Fulcio, TUF) at a recorder, and the run fails if it saw any.
var fx struct {
	err      error
	dir      string
	cosign   string
	reg      *testimage.Distribution
	key1     string // private key files, password pw1 / pw2
	pub1     string
	pw1      string
	key2     string
	pub2     string
	pw2      string
	outbound *recorder
}

type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.Host+req.URL.Path)
	r.mu.Unlock()
	http.Error(w, "tests must not reach the network", http.StatusForbidden)
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// forget drops what was recorded from index i on (a test that provoked it on purpose).
func (r *recorder) forget(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = r.seen[:i]
}

func TestMain(m *testing.M) {
	fx.err = setup()
	var proxy *httptest.Server
	if fx.err == nil {
		fx.outbound = &recorder{}
		proxy = httptest.NewServer(fx.outbound)
		for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"} {
			os.Setenv(k, proxy.URL)
		}
		os.Unsetenv("NO_PROXY")
		os.Unsetenv("no_proxy")
	}
	code := m.Run()
	if proxy != nil {
		proxy.Close()
		if len(fx.outbound.seen) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: cosign tried to reach the network: %q\n", fx.outbound.seen)
			code = 1
		}
	}
	fx.reg.Stop()
	if fx.dir != "" {
		os.RemoveAll(fx.dir)
	}
	os.Exit(code)
}

func setup() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tollgate-cosign-test-*")
	if err != nil {
		return err
	}
	fx.dir = dir
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: true, Progress: os.Stderr}
	if fx.cosign, err = in.Ensure(ctx, ToolName); err != nil {
		return err
	}
	// No docker config or Sigstore cache of the machine's user may leak into the tests.
	os.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	os.Setenv("HOME", filepath.Join(dir, "home"))
	regDir := filepath.Join(dir, "registry")
	os.MkdirAll(regDir, 0o755)
	if fx.reg, err = testimage.StartDistribution(ctx, regDir, testimage.DistributionOptions{}); err != nil {
		return err
	}
	fx.pw1, fx.pw2 = randomString(), randomString()
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(keys, 0o700)
	if fx.key1, fx.pub1, err = GenerateKeyPair(ctx, Exec{Binary: fx.cosign}, keys, "first", fx.pw1); err != nil {
		return err
	}
	if fx.key2, fx.pub2, err = GenerateKeyPair(ctx, Exec{Binary: fx.cosign}, keys, "second", fx.pw2); err != nil {
		return err
	}
	return nil
}

func need(t *testing.T) {
	t.Helper()
	if fx.err != nil {
		t.Fatalf("test setup: %v", fx.err)
	}
}

func randomString() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// push writes an image under repo:tag in the test registry and returns its digest.
func push(t *testing.T, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(fx.reg.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func pushIndex(t *testing.T, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(fx.reg.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return d.String()
}

func smallImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := testimage.Small("linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var loopback = RegistryOptions{AllowHTTP: true}

// signWith signs input (tag or digest) with a key file the way the sign stage does.
func signWith(t *testing.T, input, key, password string) *Subject {
	t.Helper()
	subj, err := Resolve(context.Background(), input, loopback)
	if err != nil {
		t.Fatal(err)
	}
	req := SignRequest{Exec: Exec{Binary: fx.cosign, Env: Env(Secrets{Password: password}, true, nil), Dir: t.TempDir()},
		Subject: subj, Signer: Signer{Key: key}, Common: Common{AllowHTTP: true}, KeySource: key, PasswordSource: "test"}
	if err := Sign(context.Background(), req); err != nil {
		t.Fatalf("sign %s: %v", input, err)
	}
	return subj
}

// verifier trusts pub without a transparency log (offline), with an optional policy.
func verifier(pub string, reqs ...Requirement) *Verifier {
	return &Verifier{Cosign: fx.cosign, Trust: Trust{Key: pub, IgnoreTlog: true}, KeySource: filepath.Base(pub),
		Policy: Policy{Requirements: reqs}, Registry: loopback, Common: Common{AllowHTTP: true}}
}
