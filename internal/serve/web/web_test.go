package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
	"github.com/tollgate-dev/tollgate/internal/serve/web"
)

func TestAuthAndStatuses(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "serve.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ready atomic.Bool
	ready.Store(true)
	mux := http.NewServeMux()
	if err := web.Register(mux, web.Options{Store: st, Tokens: [][]byte{[]byte("shared-secret-123456"), []byte("read-only-token-99")}, Metrics: metrics.New(nil), Ready: &ready}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(path string, set func(*http.Request)) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String(), resp.Header
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(pass string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth("anyone", pass) } }
	missing := "/api/v1/images/127.0.0.1:5000/a@sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, path string
		set        func(*http.Request)
		want       int
		body       string
	}{
		{"health needs no token", "/healthz", nil, 200, "ok"},
		{"ready needs no token", "/readyz", nil, 200, "ready"},
		{"page without token", "/", nil, 401, ""},
		{"page with wrong basic", "/", basic("nope"), 401, ""},
		{"page with basic", "/", basic("shared-secret-123456"), 200, "No image pushed yet"},
		{"API with read token", "/api/v1/images", bearer("read-only-token-99"), 200, `"images":[]`},
		{"API with wrong token", "/api/v1/images", bearer("read-only-token-98"), 401, ""},
		{"metrics without token", "/metrics", nil, 401, ""},
		{"metrics with token", "/metrics", bearer("shared-secret-123456"), 200, "tollgate_serve_ack_seconds"},
		{"unknown image", missing, bearer("shared-secret-123456"), 404, "no such image"},
		{"unknown SBOM format", "/api/v1/sbom/xml/127.0.0.1:5000/a@sha256:" + strings.Repeat("0", 64), bearer("shared-secret-123456"), 400, "spdx-json"},
		{"unknown detail page", "/images/127.0.0.1:5000/a@sha256:" + strings.Repeat("0", 64), bearer("shared-secret-123456"), 404, ""},
	} {
		code, body, hdr := do(tc.path, tc.set)
		if code != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, body, tc.want, tc.body)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: 401 without a Basic challenge", tc.name)
		}
	}
	ready.Store(false)
	if code, body, _ := do("/readyz", nil); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining: %d %q", code, body)
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{30 * time.Second: "30s ago", 5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago", 72 * time.Hour: "3d ago"} {
		if got := web.Age(now, now.Add(-d)); got != want {
			t.Errorf("Age(-%s) = %q, want %q", d, got, want)
		}
	}
	if web.Age(now, time.Time{}) != "never" {
		t.Error("zero time")
	}
}
