package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/notify"
	"github.com/tollgate-dev/tollgate/internal/serve/retry"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

func finding(id, sev, pkg, fixed string) model.Finding {
	s, _ := model.ParseSeverity(sev)
	return model.Finding{RuleID: id, Severity: s, Location: model.Location{Resource: pkg + "@1.0"},
		Extra: map[string]string{"package": pkg, "installed": "1.0", "fixed": fixed, "target": "app"}, Title: id + " title", URL: "https://avd.example/" + id}
}

func TestSelect(t *testing.T) {
	prev := []model.Finding{finding("CVE-1", "CRITICAL", "openssl", "3.1")}
	cur := []model.Finding{
		finding("CVE-1", "CRITICAL", "openssl", "3.1"), // known
		finding("CVE-2", "HIGH", "lodash", "4.17.21"),  // new
		finding("CVE-3", "LOW", "musl", "1.2"),         // below threshold
		finding("CVE-4", "CRITICAL", "busybox", ""),    // new, no fix
	}
	ids := func(fs []model.Finding) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.RuleID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name  string
		p     notify.Policy
		prev  []model.Finding
		first bool
		want  string
	}{
		{"first result, HIGH and up", notify.Policy{}, nil, true, "CVE-1,CVE-4,CVE-2"},
		{"delta only", notify.Policy{}, prev, false, "CVE-4,CVE-2"},
		{"delta fixable only", notify.Policy{FixableOnly: true}, prev, false, "CVE-2"},
		{"delta from LOW", notify.Policy{MinSeverity: model.SeverityLow}, prev, false, "CVE-4,CVE-2,CVE-3"},
		{"nothing new", notify.Policy{}, cur, false, ""},
	} {
		if got := ids(notify.Select(tc.p, tc.prev, cur, tc.first)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// recorder is a local fake of a receiver: it records every request and answers with the
// next status in codes (then 2xx).
type recorder struct {
	mu    sync.Mutex
	reqs  []recorded
	codes []int
	ok    int
}

type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.EscapedPath(), req.Header.Clone(), b})
	code := r.ok
	if len(r.codes) > 0 {
		code, r.codes = r.codes[0], r.codes[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(code)
	w.Write([]byte(`{}`))
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func message() notify.Message {
	return notify.Message{Image: "127.0.0.1:5000/team/app@sha256:abc", Repository: "127.0.0.1:5000/team/app", Digest: "sha256:abc", Tags: []string{"1.0"},
		Kind: notify.KindNew, ScanKind: "rescan", DBVersion: "2026-01-01T00:00:00Z sha256:0123",
		Findings: []notify.Vuln{notify.VulnOf(finding("CVE-2020-28500", "MEDIUM", "lodash", "4.17.21"))}, Counts: map[string]int{"MEDIUM": 1},
		URL: "https://tollgate.example/images/127.0.0.1:5000/team/app@sha256:abc"}
}

// TestTargetRequests sends one message to each target's local fake and checks the exact API
// call: method, path, headers and body fields.
func TestTargetRequests(t *testing.T) {
	rec := &recorder{ok: 201}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	const hookSecret, ghToken, glToken = "hook-secret-value", "ghp_testtoken", "glpat-testtoken"
	targets := []notify.Target{
		&notify.Webhook{TargetName: "hook", URL: srv.URL + "/hooks/tollgate", Secret: []byte(hookSecret)},
		&notify.Slack{TargetName: "slack", URL: srv.URL + "/services/T000/B000/XXXX"},
		&notify.GitHub{TargetName: "gh", API: srv.URL, Repository: "acme/app", Token: ghToken, Labels: []string{"security"}},
		&notify.GitLab{TargetName: "gl", API: srv.URL, Project: "group/app", Token: glToken, Labels: []string{"security", "tollgate"}},
	}
	m := message()
	for _, tg := range targets {
		req, err := tg.Request(context.Background(), m, "42")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	reqs := rec.all()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	decode := func(b []byte) map[string]any {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("body is not JSON: %s", b)
		}
		return v
	}
	// Webhook: the message itself, HMAC-signed.
	hook := reqs[0]
	if hook.Method != "POST" || hook.Path != "/hooks/tollgate" || hook.Header.Get("Content-Type") != "application/json" ||
		hook.Header.Get(notify.HeaderDelivery) != "42" || hook.Header.Get(notify.HeaderEvent) != "vulnerabilities.new" {
		t.Fatalf("webhook request: %s %s %v", hook.Method, hook.Path, hook.Header)
	}
	if got, want := hook.Header.Get(ingest.SignatureHeader), ingest.SignatureValue([]byte(hookSecret), hook.Body); got != want {
		t.Fatalf("webhook signature %q, want %q", got, want)
	}
	var got notify.Message
	json.Unmarshal(hook.Body, &got)
	if got.Image != m.Image || got.Kind != "new" || len(got.Findings) != 1 || got.Findings[0].ID != "CVE-2020-28500" || got.Findings[0].Fixed != "4.17.21" {
		t.Fatalf("webhook body: %s", hook.Body)
	}
	// Slack: text and blocks.
	slack := reqs[1]
	sb := decode(slack.Body)
	if slack.Method != "POST" || slack.Path != "/services/T000/B000/XXXX" || !strings.Contains(sb["text"].(string), "CVE-2020-28500") {
		t.Fatalf("slack request: %s %s %s", slack.Method, slack.Path, slack.Body)
	}
	if blocks, _ := sb["blocks"].([]any); len(blocks) != 2 || !strings.Contains(string(slack.Body), "lodash") {
		t.Fatalf("slack blocks: %s", slack.Body)
	}
	// GitHub: POST /repos/{owner}/{repo}/issues.
	gh := reqs[2]
	gb := decode(gh.Body)
	if gh.Method != "POST" || gh.Path != "/repos/acme/app/issues" || gh.Header.Get("Authorization") != "Bearer "+ghToken ||
		gh.Header.Get("Accept") != "application/vnd.github+json" || gh.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		t.Fatalf("github request: %s %s %v", gh.Method, gh.Path, gh.Header)
	}
	if !strings.Contains(gb["title"].(string), "CVE-2020-28500") || !strings.Contains(gb["body"].(string), "| [CVE-2020-28500]") ||
		len(gb["labels"].([]any)) != 1 || gb["labels"].([]any)[0] != "security" {
		t.Fatalf("github body: %s", gh.Body)
	}
	// GitLab: POST /api/v4/projects/{url-encoded path}/issues.
	gl := reqs[3]
	glb := decode(gl.Body)
	if gl.Method != "POST" || gl.Path != "/api/v4/projects/group%2Fapp/issues" || gl.Header.Get("PRIVATE-TOKEN") != glToken {
		t.Fatalf("gitlab request: %s %s %v", gl.Method, gl.Path, gl.Header)
	}
	if !strings.Contains(glb["title"].(string), "CVE-2020-28500") || !strings.Contains(glb["description"].(string), "lodash") || glb["labels"] != "security,tollgate" {
		t.Fatalf("gitlab body: %s", gl.Body)
	}
}

// TestDispatcherRetriesAndRecords delivers through a real outbox: a receiver that fails twice
// gets the message on the third attempt after backoff; one that always fails ends recorded as
// failed, never silently dropped.
func TestDispatcherRetriesAndRecords(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "serve.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flaky := &recorder{codes: []int{500, 503}, ok: 200}
	dead := &recorder{ok: 500}
	fs, ds := httptest.NewServer(flaky), httptest.NewServer(dead)
	defer fs.Close()
	defer ds.Close()

	st.Ingest(ctx, []store.Push{{Registry: "127.0.0.1:5000", Repository: "a", Digest: "sha256:" + strings.Repeat("1", 64), Source: "api"}}, time.Now())
	j, _ := st.Claim(ctx, "w", time.Now(), time.Minute)
	payload, _ := json.Marshal(message())
	_, err = st.Finish(ctx, j, &store.Result{Scan: store.Scan{Tools: map[string]string{}, Counts: map[string]int{}},
		Notifications: []store.Outgoing{{Target: "flaky", Payload: payload}, {Target: "dead", Payload: payload}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := &notify.Dispatcher{Store: st, Owner: "test", Poll: 20 * time.Millisecond,
		Targets: map[string]notify.Target{"flaky": &notify.Webhook{TargetName: "flaky", URL: fs.URL}, "dead": &notify.Webhook{TargetName: "dead", URL: ds.URL}},
		Retry:   retry.Policy{MaxAttempts: 3, Base: 50 * time.Millisecond, Max: time.Second}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	var states map[string]store.Delivery
	for time.Now().Before(deadline) {
		list, _ := st.Deliveries(ctx, 10)
		states = map[string]store.Delivery{}
		for _, x := range list {
			states[x.Target] = x
		}
		if states["flaky"].State == "delivered" && states["dead"].State == "failed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if f := states["flaky"]; f.State != "delivered" || f.Attempts != 3 {
		t.Fatalf("flaky receiver: %+v, want delivered on attempt 3", f)
	}
	if x := states["dead"]; x.State != "failed" || x.Attempts != 3 || !strings.Contains(x.LastError, "500") {
		t.Fatalf("dead receiver: %+v, want failed after 3 attempts with the status recorded", x)
	}
	if n := len(flaky.all()); n != 3 {
		t.Fatalf("flaky receiver got %d requests, want 3", n)
	}
	// Every attempt carried the same delivery id, so a receiver can drop a duplicate.
	for _, r := range flaky.all() {
		if r.Header.Get(notify.HeaderDelivery) != flaky.all()[0].Header.Get(notify.HeaderDelivery) {
			t.Fatal("delivery id changed between attempts")
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	p := retry.Policy{MaxAttempts: 4, Base: time.Second, Max: 5 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 9: 5 * time.Second} {
		if got := p.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %s, want %s", attempt, got, want)
		}
	}
	if p.GiveUp(3) || !p.GiveUp(4) {
		t.Error("GiveUp should be true from the 4th attempt on")
	}
}
