package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

func TestParseDistribution(t *testing.T) {
	b, err := os.ReadFile("testdata/distribution-push.json")
	if err != nil {
		t.Fatal(err)
	}
	pushes, skipped, err := ingest.ParseDistribution(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(pushes) != 1 || len(skipped) != 2 {
		t.Fatalf("%d pushes, %d skipped; want the manifest push, and the blob push and pull skipped", len(pushes), len(skipped))
	}
	p := pushes[0]
	want := store.Push{Registry: "127.0.0.1:5000", Repository: "team/app", Digest: "sha256:" + strings.Repeat("2", 64), Tag: "1.0",
		MediaType: "application/vnd.oci.image.manifest.v1+json", Source: "distribution", EventID: "2a6b8d9f-8c5e-4e6f-ae72-4e2d3b0c1f22"}
	if p != want {
		t.Fatalf("push %+v\nwant %+v", p, want)
	}
}

func TestParseHarbor(t *testing.T) {
	b, err := os.ReadFile("testdata/harbor-push.json")
	if err != nil {
		t.Fatal(err)
	}
	pushes, _, err := ingest.ParseHarbor(b)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Push{Registry: "harbor.example.com", Repository: "library/app", Digest: "sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0", Tag: "v1", Source: "harbor"}
	if len(pushes) != 1 || pushes[0] != want {
		t.Fatalf("pushes %+v, want %+v", pushes, want)
	}
	_, skipped, err := ingest.ParseHarbor([]byte(`{"type":"PULL_ARTIFACT","event_data":{"resources":[]}}`))
	if err != nil || len(skipped) != 1 {
		t.Fatalf("pull event: %v %v", skipped, err)
	}
}

func TestParseErrors(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		body  string
	}{
		{"distribution not JSON", distribution, `{"events": [`},
		{"distribution no events", distribution, `{"evnts": []}`},
		{"distribution trailing data", distribution, `{"events": []} {}`},
		{"distribution bad digest", distribution, `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"md5:x","repository":"a"},"request":{"host":"r:5000"}}]}`},
		{"distribution no host", distribution, `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","repository":"a"}}]}`},
		{"harbor cloudevents", harbor, `{"specversion":"1.0","type":"harbor.artifact.pushed"}`},
		{"harbor bad url", harbor, `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"` + d + `","resource_url":"nohost"}]}}`},
		{"harbor no resources", harbor, `{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}`},
		{"plain missing image", plain, `{}`},
		{"plain tag not digest", plain, `{"image":"127.0.0.1:5000/app:1"}`},
		{"plain short name", plain, `{"image":"app@` + d + `"}`},
		{"plain array", plain, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.body))
			var br *ingest.BadRequest
			if err == nil || !asBadRequest(err, &br) {
				t.Fatalf("error %v, want a BadRequest", err)
			}
		})
	}
}

func asBadRequest(err error, target **ingest.BadRequest) bool {
	br, ok := err.(*ingest.BadRequest)
	*target = br
	return ok
}

func distribution(b []byte) error { _, _, err := ingest.ParseDistribution(b); return err }
func harbor(b []byte) error       { _, _, err := ingest.ParseHarbor(b); return err }
func plain(b []byte) error        { _, err := ingest.ParsePlain(b); return err }

const secret = "ingest-test-secret-0123456789"

// server is the ingest endpoints on a real SQLite store through the batcher.
func server(t *testing.T, allowed func(string) bool) (*httptest.Server, store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "serve.db"))
	if err != nil {
		t.Fatal(err)
	}
	b := ingest.NewBatcher(st, time.Now)
	mux := http.NewServeMux()
	ingest.Register(mux, ingest.Options{Auth: ingest.Auth{Secret: []byte(secret)}, MaxBody: 64 << 10, Allowed: allowed, Submit: b.Submit})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); b.Stop(); st.Close() })
	return srv, st
}

func TestHandlerStatuses(t *testing.T) {
	srv, st := server(t, func(h string) bool { return h != "forbidden.example.com" })
	dist, _ := os.ReadFile("testdata/distribution-push.json")
	harb, _ := os.ReadFile("testdata/harbor-push.json")
	good := []byte(`{"image":"127.0.0.1:5000/team/app@sha256:` + strings.Repeat("3", 64) + `"}`)
	big := []byte(`{"image":"` + strings.Repeat("x", 70000) + `"}`)
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	for _, tc := range []struct {
		name    string
		path    string
		ctype   string
		headers map[string]string
		body    []byte
		chunked bool
		want    int
	}{
		{"no credentials", ingest.PathImages, "application/json", nil, good, false, 401},
		{"wrong token", ingest.PathImages, "application/json", map[string]string{"Authorization": "Bearer nope"}, good, false, 401},
		{"basic instead of bearer", ingest.PathImages, "application/json", map[string]string{"Authorization": "Basic eDp5"}, good, false, 401},
		{"bad signature", ingest.PathImages, "application/json", map[string]string{ingest.SignatureHeader: "sha256=00"}, good, false, 401},
		{"signature of other body", ingest.PathImages, "application/json", map[string]string{ingest.SignatureHeader: ingest.SignatureValue([]byte(secret), []byte("x"))}, good, false, 401},
		{"oversized", ingest.PathImages, "application/json", bearer, big, false, 413},
		{"oversized chunked", ingest.PathImages, "application/json", bearer, big, true, 413},
		{"unknown media type", ingest.PathImages, "text/plain", bearer, good, false, 415},
		{"no media type", ingest.PathDistribution, "", bearer, dist, false, 415},
		{"malformed", ingest.PathImages, "application/json", bearer, []byte(`{"image":`), false, 400},
		{"tag instead of digest", ingest.PathImages, "application/json", bearer, []byte(`{"image":"127.0.0.1:5000/a:1"}`), false, 400},
		{"registry not configured", ingest.PathImages, "application/json", bearer, []byte(`{"image":"forbidden.example.com/a@sha256:` + strings.Repeat("4", 64) + `"}`), false, 400},
		{"plain with token", ingest.PathImages, "application/json; charset=utf-8", bearer, good, false, 202},
		{"plain with HMAC", ingest.PathImages, "application/json", map[string]string{ingest.SignatureHeader: ingest.SignatureValue([]byte(secret), good)}, good, false, 202},
		{"distribution envelope", ingest.PathDistribution, ingest.DistributionEnvelope, bearer, dist, false, 202},
		{"harbor", ingest.PathHarbor, "application/json", bearer, harb, false, 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body = bytes.NewReader(tc.body)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, body)
			if tc.chunked {
				req, _ = http.NewRequest(http.MethodPost, srv.URL+tc.path, struct{ *bytes.Reader }{body})
				req.ContentLength = -1
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb map[string]any
			json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, eb, tc.want)
			}
			if strings.Contains(jsonString(eb), secret) {
				t.Fatal("response echoes the secret")
			}
		})
	}
	imgs, err := st.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Accepted: the plain image (twice: one image), the Distribution manifest and the Harbor artifact.
	if len(imgs) != 3 {
		t.Fatalf("%d images stored, want 3: %+v", len(imgs), imgs)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestHandlerDedupeResponse(t *testing.T) {
	srv, _ := server(t, nil)
	d := "sha256:" + strings.Repeat("5", 64)
	var events []string
	for i := 0; i < 50; i++ {
		events = append(events, `{"id":"e`+itoa(i)+`","action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"`+d+`","repository":"team/app","tag":"t`+itoa(i)+`"},"request":{"host":"127.0.0.1:5000"}}`)
	}
	body := `{"events":[` + strings.Join(events, ",") + `]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+ingest.PathDistribution, strings.NewReader(body))
	req.Header.Set("Content-Type", ingest.DistributionEnvelope)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r ingest.Response
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != 202 || r.Queued != 1 || r.Known != 49 {
		t.Fatalf("status %d, %+v; want 202 with 1 queued and 49 known", resp.StatusCode, r)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
