package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/serve"
	"github.com/tollgate-dev/tollgate/internal/serve/config"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// childEnv makes the test binary run `tollgate serve` instead of the tests (the crash test
// starts the service as a real child process and kills it).
const childEnv = "TOLLGATE_SERVE_TEST_CHILD"

var fx struct {
	*servetest.Fixtures
	dir string
	err error
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(cli.Main(context.Background(), []string{"serve", "-c", cfg, "--no-install"}, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "tollgate-serve-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fx.dir = dir
	// The pinned scanners are built before the tests, so building them does not count
	// against a test's timeout.
	in := installer(true)
	for _, name := range []string{"trivy", "syft"} {
		if _, err := in.Ensure(context.Background(), name); err != nil {
			fx.err = fmt.Errorf("install %s: %w", name, err)
		}
	}
	if fx.err == nil {
		fx.Fixtures, fx.err = servetest.BuildFixtures(dir, "../../fixtures/advisories")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func installer(auto bool) *tools.Installer {
	return &tools.Installer{CacheDir: tools.DefaultCacheDir(), AutoInstall: auto, Progress: os.Stderr}
}

func needFixtures(t *testing.T) {
	t.Helper()
	if fx.err != nil {
		t.Fatalf("test fixtures: %v", fx.err)
	}
}

// Secrets the canary checks never leak.
const (
	secret       = "canary-serve-secret-3f9c2a71d0"
	registryPass = "canary-registry-pass-8e41b7"
	hookSecret   = "canary-hook-secret-55d0c9"
)

// syncBuffer collects the service's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is an in-process service.
type instance struct {
	URL  string
	Log  *syncBuffer
	stop func()
}

// testConfig is a service config for tests: short polls and backoffs, the fixture DB, one
// webhook target (if hook != "") at MEDIUM.
func testConfig(t *testing.T, dataDir, dbDir, registryHost, hook string, anonymousRegistries ...string) *config.Config {
	t.Helper()
	t.Setenv("TG_TEST_SECRET", secret)
	t.Setenv("TG_TEST_REGISTRY_PASS", registryPass)
	t.Setenv("TG_TEST_HOOK_SECRET", hookSecret)
	y := fmt.Sprintf(`data-dir: %s
base-url: http://tollgate.test
auth:
  secret: {env: TG_TEST_SECRET}
queue:
  workers: 2
  max-attempts: 3
  backoff: 200ms
  max-backoff: 1s
  lease: 6s
  poll: 100ms
registries:
  - host: %s
    username: pusher
    password: {env: TG_TEST_REGISTRY_PASS}
scan:
  db-dir: %s
  db-poll: 200ms
  timeout: 5m
  registry-timeout: 2s
notify:
  min-severity: MEDIUM
  backoff: 200ms
`, dataDir, registryHost, dbDir)
	for _, h := range anonymousRegistries {
		y = strings.Replace(y, "scan:\n", "  - host: "+h+"\nscan:\n", 1)
	}
	if hook != "" {
		y += fmt.Sprintf("  targets:\n    - {name: hook, type: webhook, url: %q, secret: {env: TG_TEST_HOOK_SECRET}}\n", hook)
	}
	c, err := config.Parse(filepath.Join(dataDir, "serve.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startService runs a service in this process on l until the test ends.
func startService(t *testing.T, cfg *config.Config, l net.Listener) *instance {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := serve.New(context.Background(), serve.Options{Config: cfg, Tools: installer(false), Log: log, Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	in := &instance{URL: "http://" + svc.Addr(), Log: logs}
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service stopped with %v", err)
			}
		})
	}
	t.Cleanup(in.stop)
	return in
}

// testWriter shows the service log in verbose test output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() && os.Getenv(benchEnv) == "" {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// get fetches an authenticated API path and returns status and body.
func get(t *testing.T, base, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type apiImage struct {
	Ref      string   `json:"ref"`
	Digest   string   `json:"digest"`
	Status   string   `json:"status"`
	Tags     []string `json:"tags"`
	LastErr  string   `json:"last_error"`
	LastScan *struct {
		ID        int64          `json:"id"`
		Kind      string         `json:"kind"`
		DBVersion string         `json:"db_version"`
		Counts    map[string]int `json:"counts"`
	} `json:"last_scan"`
}

func images(t *testing.T, base string) []apiImage {
	t.Helper()
	code, b := get(t, base, "/api/v1/images", secret)
	if code != 200 {
		t.Fatalf("GET /api/v1/images: %d %s", code, b)
	}
	var r struct{ Images []apiImage }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Images
}

type apiJob struct {
	ID        int64  `json:"id"`
	Image     string `json:"image"`
	Kind      string `json:"kind"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
	Owner     string `json:"owner"`
}

func jobs(t *testing.T, base string) []apiJob {
	t.Helper()
	code, b := get(t, base, "/api/v1/jobs", secret)
	if code != 200 {
		t.Fatalf("GET /api/v1/jobs: %d %s", code, b)
	}
	var r struct{ Jobs []apiJob }
	json.Unmarshal(b, &r)
	return r.Jobs
}

// waitScanned waits until every ref in refs has a scan with a DB version other than notDB.
func waitScanned(t *testing.T, base string, timeout time.Duration, notDB string, refs ...string) map[string]apiImage {
	t.Helper()
	var last map[string]apiImage
	servetest.WaitFor(t, timeout, fmt.Sprintf("%d images scanned", len(refs)), func() bool {
		last = map[string]apiImage{}
		for _, im := range images(t, base) {
			last[im.Ref] = im
		}
		for _, r := range refs {
			im, ok := last[r]
			if !ok || im.LastScan == nil || im.LastScan.DBVersion == notDB {
				return false
			}
		}
		return true
	})
	return last
}

// postImage submits ref through the plain endpoint and returns the status.
func postImage(t *testing.T, base, ref string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/images", strings.NewReader(`{"image":"`+ref+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
