package sign_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// These tests run the real `tollgate` binary, as a CI job would, against Debian's docker-registry
// on 127.0.0.1 with the pinned cosign. Every child process gets HTTP(S)_PROXY pointing at a
// recorder: the run fails if cosign tried to reach anything beyond loopback.
var fx struct {
	err      error
	dir      string
	bin      string // tollgate
	cosign   string
	cache    string
	reg      *testimage.Distribution
	keyDir   string
	key, pub string // keys made by `tollgate keys generate`, password pw
	pw       string
	otherPub string // a second key pair's public key
	proxy    *httptest.Server
	outbound struct {
		sync.Mutex
		seen []string
	}
}

func TestMain(m *testing.M) {
	fx.err = setup()
	code := m.Run()
	if fx.proxy != nil {
		fx.proxy.Close()
		fx.outbound.Lock()
		if len(fx.outbound.seen) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: a child process tried to reach the network: %q\n", fx.outbound.seen)
			code = 1
		}
		fx.outbound.Unlock()
	}
	fx.reg.Stop()
	if fx.dir != "" {
		os.RemoveAll(fx.dir)
	}
	os.Exit(code)
}

func setup() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tollgate-sign-cli-*")
	if err != nil {
		return err
	}
	fx.dir = dir
	fx.cache = tools.DefaultCacheDir()
	in := &tools.Installer{CacheDir: fx.cache, AutoInstall: true, Progress: os.Stderr}
	if fx.cosign, err = in.Ensure(ctx, "cosign"); err != nil {
		return err
	}
	fx.bin = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", fx.bin, "./cmd/tollgate")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/tollgate: %v\n%s", err, out)
	}
	fx.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fx.outbound.Lock()
		fx.outbound.seen = append(fx.outbound.seen, r.Method+" "+r.Host+r.URL.Path)
		fx.outbound.Unlock()
		http.Error(w, "tests must not reach the network", http.StatusForbidden)
	}))
	regDir := filepath.Join(dir, "registry")
	os.MkdirAll(regDir, 0o700)
	if fx.reg, err = testimage.StartDistribution(ctx, regDir, testimage.DistributionOptions{}); err != nil {
		return err
	}
	fx.keyDir = filepath.Join(dir, "keys")
	os.MkdirAll(fx.keyDir, 0o700)
	fx.pw = random()
	for _, k := range []struct{ prefix, pw string }{{"release", fx.pw}, {"other", random()}} {
		res := tollgateIn(nil, fx.keyDir, map[string]string{"TOLLGATE_COSIGN_PASSWORD": k.pw}, "keys", "generate", "--prefix", k.prefix)
		if res.code != 0 {
			return fmt.Errorf("tollgate keys generate: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	}
	fx.key, fx.pub = filepath.Join(fx.keyDir, "release.key"), filepath.Join(fx.keyDir, "release.pub")
	fx.otherPub = filepath.Join(fx.keyDir, "other.pub")
	return nil
}

func need(t *testing.T) {
	t.Helper()
	if fx.err != nil {
		t.Fatalf("test setup: %v", fx.err)
	}
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type result struct {
	code           int
	stdout, stderr string
	pid            int
	report         report
}

type report struct {
	Passed bool `json:"passed"`
	Stages []struct {
		Stage     string `json:"stage"`
		Status    string `json:"status"`
		Summary   string `json:"summary"`
		Error     string `json:"error"`
		ErrorKind string `json:"error_kind"`
		Findings  []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Resource string `json:"resource"`
		} `json:"findings"`
		Artifacts []struct {
			Name string `json:"name"`
			Path string `json:"path"`
		} `json:"artifacts"`
	} `json:"stages"`
}

// baseEnv is the child's whole environment: nothing of the test machine's user leaks in.
func baseEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"TOLLGATE_CACHE_DIR=" + fx.cache, "TMPDIR=" + os.TempDir(),
		"HTTPS_PROXY=" + fx.proxy.URL, "HTTP_PROXY=" + fx.proxy.URL,
	}
}

// tollgateIn runs the binary in dir with extra environment; onStart, when set, gets the pid.
func tollgateIn(onStart func(pid int), dir string, env map[string]string, args ...string) result {
	home := filepath.Join(fx.dir, "home")
	os.MkdirAll(home, 0o700)
	cmd := exec.Command(fx.bin, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(home)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	res := result{code: -1}
	if err := cmd.Start(); err != nil {
		res.stderr = err.Error()
		return res
	}
	res.pid = cmd.Process.Pid
	if onStart != nil {
		onStart(cmd.Process.Pid)
	}
	err := cmd.Wait()
	res.code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else if err != nil {
		res.code = -1
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if strings.HasPrefix(strings.TrimSpace(res.stdout), "{") {
		json.Unmarshal(stdout.Bytes(), &res.report)
	}
	return res
}

// tollgate runs a stage command in project dir with JSON on stdout and no report files.
func tollgate(t *testing.T, dir string, env map[string]string, args ...string) result {
	t.Helper()
	full := append(args, "--format", "json", "--out", "", "--progress", "none", "--no-install")
	return tollgateIn(nil, dir, env, full...)
}

// tollgateOut is tollgate writing every report and artifact into out.
func tollgateOut(t *testing.T, dir, out string, env map[string]string, args ...string) result {
	t.Helper()
	full := append(args, "--format", "json", "--out", out, "--progress", "none", "--no-install")
	return tollgateIn(nil, dir, env, full...)
}

// record reads a signed.json / attested.json artifact.
type record struct {
	Image      string `json:"image"`
	Reference  string `json:"reference"`
	Digest     string `json:"digest"`
	Manifests  []struct{ Digest, Platform string }
	Signer     string `json:"signer"`
	Tlog       bool   `json:"tlog"`
	Predicates []struct {
		Type string `json:"type"`
	} `json:"predicates"`
}

func readRecord(t *testing.T, path string) record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// rules lists the findings' rule IDs of the named stage.
func (r result) rules(stage string) []string {
	var out []string
	for _, s := range r.report.Stages {
		if s.Stage == stage {
			for _, f := range s.Findings {
				out = append(out, f.Rule)
			}
		}
	}
	return out
}

func (r result) stage(name string) (status, summary string) {
	for _, s := range r.report.Stages {
		if s.Stage == name {
			return s.Status, s.Summary + s.Error
		}
	}
	return "", ""
}

func push(t *testing.T, host, repoTag string, img v1.Image, auth authn.Authenticator) string {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{}
	if auth != nil {
		opts = append(opts, remote.WithAuth(auth))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func small(t *testing.T) v1.Image {
	t.Helper()
	img, err := testimage.Small("linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func project(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if yaml != "" {
		if err := os.WriteFile(filepath.Join(dir, "tollgate.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// keyEnv hands the key password to tollgate the documented way.
func keyEnv() map[string]string { return map[string]string{"TOLLGATE_COSIGN_PASSWORD": fx.pw} }

var (
	signFlags   = []string{"--allow-http-registry", "--tlog-upload=false"}
	verifyFlags = []string{"--allow-http-registry", "--insecure-ignore-tlog"}
)

func args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func within(t *testing.T, d time.Duration, start time.Time, what string) {
	t.Helper()
	if took := time.Since(start); took > d {
		t.Errorf("%s took %s, want under %s", what, took.Round(time.Millisecond), d)
	}
}

func pushIndex(t *testing.T, host, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}
