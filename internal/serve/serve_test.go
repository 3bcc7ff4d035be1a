package serve_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/notify"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// newAdvisory is the advisory the rescan test adds to the DB: lodash's ReDoS, which the
// vulnerable image's lodash 4.17.15 has and the first DB does not know.
const newAdvisory = `{
  "schema_version": "1.4.0",
  "id": "GHSA-29mw-wpgm-hmr9",
  "modified": "2024-01-01T00:00:00Z",
  "published": "2022-01-06T00:00:00Z",
  "aliases": ["CVE-2020-28500"],
  "summary": "Regular Expression Denial of Service (ReDoS) in lodash",
  "details": "Lodash versions prior to 4.17.21 are vulnerable to ReDoS via the toNumber, trim and trimEnd functions.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
  "affected": [{"package": {"ecosystem": "npm", "name": "lodash"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}],
  "references": [{"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2020-28500"}],
  "database_specific": {"cwe_ids": ["CWE-400"], "severity": "MODERATE", "github_reviewed": true}
}`

const newCVE = "CVE-2020-28500"

// TestPushScanRescanNotify is the service end to end with real parts: Debian's Distribution
// registry notifies the service of images pushed with go-containerregistry; the service
// describes and scans them with the pinned syft and trivy against the offline fixture DB; the
// API, SARIF, SBOMs and the page (in headless Chromium) show the planted CVEs; swapping in a DB
// with one more advisory rescans and sends exactly one notification naming only the new CVE.
// Bad input and a canary for secrets follow on the same service.
func TestPushScanRescanNotify(t *testing.T) {
	needFixtures(t)
	dbDir := filepath.Join(t.TempDir(), "trivy-db")
	servetest.BuildDB(t, fx.Advisories, dbDir, time.Now().Add(-time.Hour))
	hook := servetest.NewReceiver(t)
	l := listen(t)
	base := "http://" + l.Addr().String()
	reg := servetest.StartRegistry(t, "pusher", registryPass, servetest.Endpoint{URL: base + ingest.PathDistribution, Token: secret})
	hanging, stopHanging, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stopHanging()
	cfg := testConfig(t, t.TempDir(), dbDir, reg.Host, hook.URL+"/hook", hanging)
	svc := startService(t, cfg, l)

	vulnRef := reg.Push(t, fx.Vulnerable, "team/app", "1.0")
	if again := reg.Push(t, fx.Vulnerable, "team/app", "latest"); again != vulnRef {
		t.Fatal("same image, two digests")
	}
	cleanRef := reg.Push(t, fx.Clean, "team/base", "3.19")
	imgs := waitScanned(t, svc.URL, 4*time.Minute, "", vulnRef, cleanRef)
	firstDB := imgs[vulnRef].LastScan.DBVersion

	t.Run("api", func(t *testing.T) {
		v := imgs[vulnRef]
		if v.Status != "scanned" || strings.Join(v.Tags, ",") != "1.0,latest" {
			t.Fatalf("vulnerable image: %+v", v)
		}
		if c := v.LastScan.Counts; c["CRITICAL"] != 2 || c["HIGH"] != 3 || c["MEDIUM"] != 4 {
			t.Fatalf("severity counts %v, want CRITICAL 2, HIGH 3, MEDIUM 4", c)
		}
		if c := imgs[cleanRef].LastScan.Counts; len(c) != 0 {
			t.Fatalf("clean image counts %v", c)
		}
		// One digest under two tags was scanned once.
		scans := 0
		for _, j := range jobs(t, svc.URL) {
			if j.Kind == "scan" {
				scans++
				if j.State != "done" {
					t.Fatalf("job %+v", j)
				}
			}
		}
		if scans != 2 {
			t.Fatalf("%d scan jobs for 2 digests", scans)
		}
		code, b := get(t, svc.URL, "/api/v1/images/"+vulnRef, secret)
		var rep struct {
			Findings []struct {
				Rule  string            `json:"rule"`
				Extra map[string]string `json:"extra"`
			} `json:"findings"`
		}
		if code != 200 || json.Unmarshal(b, &rep) != nil {
			t.Fatalf("report: %d %s", code, b)
		}
		got := map[string]bool{}
		for _, f := range rep.Findings {
			got[f.Rule+" "+f.Extra["package"]] = true
		}
		for _, p := range testimage.Planted() {
			if !got[p.ID+" "+p.Package] {
				t.Errorf("planted %s in %s missing from the report", p.ID, p.Package)
			}
		}
		if len(rep.Findings) != len(testimage.Planted()) {
			t.Errorf("%d findings, want %d", len(rep.Findings), len(testimage.Planted()))
		}
		code, b = get(t, svc.URL, "/api/v1/images/"+vulnRef+"?format=sarif", secret)
		if code != 200 || !strings.Contains(string(b), `"version": "2.1.0"`) || !strings.Contains(string(b), "CVE-2024-5535") {
			t.Fatalf("SARIF: %d %.300s", code, b)
		}
		for format, marker := range map[string]string{"spdx-json": `"spdxVersion": "SPDX-2.3"`, "cyclonedx-json": `"bomFormat": "CycloneDX"`} {
			code, b = get(t, svc.URL, "/api/v1/sbom/"+format+"/"+vulnRef, secret)
			if code != 200 || !strings.Contains(strings.ReplaceAll(string(b), `":"`, `": "`), marker) || !strings.Contains(string(b), "lodash") {
				t.Fatalf("%s SBOM: %d %.200s", format, code, b)
			}
		}
	})

	t.Run("first notifications", func(t *testing.T) {
		servetest.WaitFor(t, 30*time.Second, "first notification", func() bool { return len(hook.Requests()) >= 1 })
		time.Sleep(500 * time.Millisecond)
		reqs := hook.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%d notifications after the first scans, want 1 (the clean image has nothing to report)", len(reqs))
		}
		r := reqs[0]
		if r.Header.Get(ingest.SignatureHeader) != ingest.SignatureValue([]byte(hookSecret), r.Body) {
			t.Fatal("webhook body not signed with the configured secret")
		}
		var m notify.Message
		json.Unmarshal(r.Body, &m)
		if m.Kind != notify.KindFirst || m.Image != vulnRef || len(m.IDs()) != 6 || m.URL != "http://tollgate.test/images/"+vulnRef {
			t.Fatalf("first notification: %+v", m)
		}
	})

	t.Run("page", func(t *testing.T) {
		ctx := servetest.Browser(t)
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + secret}}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(svc.URL+"/"), chromedp.WaitVisible(chromedp.CSS("table.images"))); err != nil {
			t.Fatal(err)
		}
		list, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-ref="`+vulnRef+`"] a.digest`)), chromedp.WaitVisible(chromedp.CSS("#findings"))); err != nil {
			t.Fatal(err)
		}
		detail, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{reg.Host + "/team/app", reg.Host + "/team/base", shortDigest(vulnRef), shortDigest(cleanRef), "scanned", "1.0, latest"} {
			if !strings.Contains(list, want) {
				t.Errorf("list page lacks %q:\n%s", want, list)
			}
		}
		for _, p := range testimage.Planted() {
			if !strings.Contains(detail, p.ID) || !strings.Contains(detail, p.Package) {
				t.Errorf("detail page lacks %s in %s", p.ID, p.Package)
			}
		}
		if !strings.Contains(detail, vulnRef) || !strings.Contains(detail, firstDB) {
			t.Errorf("detail page lacks the reference or DB version:\n%s", detail)
		}
		// Without a token the page is refused.
		code, _ := get(t, svc.URL, "/", "")
		if code != http.StatusUnauthorized {
			t.Fatalf("page without a token: %d", code)
		}
	})

	t.Run("rescan", func(t *testing.T) {
		before := len(hook.Requests())
		adv := servetest.AdvisoriesWith(t, fx.Advisories, "2022/01/GHSA-29mw-wpgm-hmr9/GHSA-29mw-wpgm-hmr9.json", newAdvisory)
		servetest.BuildDB(t, adv, dbDir, time.Now())
		imgs := waitScanned(t, svc.URL, 3*time.Minute, firstDB, vulnRef, cleanRef)
		if imgs[vulnRef].LastScan.Kind != "rescan" || imgs[vulnRef].LastScan.Counts["MEDIUM"] != 5 {
			t.Fatalf("after the rescan: %+v", imgs[vulnRef].LastScan)
		}
		servetest.WaitFor(t, 30*time.Second, "the rescan notification", func() bool { return len(hook.Requests()) > before })
		time.Sleep(time.Second) // anything else would have been sent by now
		reqs := hook.Requests()[before:]
		if len(reqs) != 1 {
			t.Fatalf("%d notifications after the DB swap, want exactly 1", len(reqs))
		}
		var m notify.Message
		json.Unmarshal(reqs[0].Body, &m)
		if m.Kind != notify.KindNew || m.ScanKind != "rescan" || m.Image != vulnRef || strings.Join(m.IDs(), ",") != newCVE {
			t.Fatalf("rescan notification: %+v", m)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		post := func(path, ctype, token string, body []byte) int {
			req, _ := http.NewRequest(http.MethodPost, svc.URL+path, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", ctype)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, tc := range []struct {
			name, path, ctype, token string
			body                     []byte
			want                     int
		}{
			{"unauthenticated", ingest.PathDistribution, ingest.DistributionEnvelope, "", []byte(`{"events":[]}`), 401},
			{"wrong secret", ingest.PathDistribution, ingest.DistributionEnvelope, "not-the-secret", []byte(`{"events":[]}`), 401},
			{"malformed", ingest.PathDistribution, ingest.DistributionEnvelope, secret, []byte(`{"events":[{`), 400},
			{"oversized", ingest.PathDistribution, ingest.DistributionEnvelope, secret, []byte(`{"events":[],"x":"` + strings.Repeat("a", 2<<20) + `"}`), 413},
			{"unknown media type", ingest.PathHarbor, "application/x-www-form-urlencoded", secret, []byte(`type=PUSH_ARTIFACT`), 415},
		} {
			if got := post(tc.path, tc.ctype, tc.token, tc.body); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		}
		code, _ := get(t, svc.URL, "/api/v1/images", "")
		if code != 401 {
			t.Errorf("API without a token: %d", code)
		}
		code, _ = get(t, svc.URL, "/metrics", "")
		if code != 401 {
			t.Errorf("metrics without a token: %d", code)
		}

		// A digest that no longer exists, and a registry that accepts connections and never
		// answers: bounded retries, then a recorded failed job. The service keeps serving.
		gone := reg.Push(t, mustVariant(t, 99), "team/gone", "1")
		reg.Delete(t, gone)
		submit := func(ref string) {
			body := []byte(`{"image":"` + ref + `"}`)
			if c := post(ingest.PathImages, "application/json", secret, body); c != 202 {
				t.Fatalf("POST %s: %d", ref, c)
			}
		}
		submit(gone)
		hung := hanging + "/team/app@" + strings.Split(vulnRef, "@")[1]
		submit(hung)
		var failed map[string]apiJob
		servetest.WaitFor(t, 2*time.Minute, "the jobs of the missing digest and the hanging registry to fail", func() bool {
			failed = map[string]apiJob{}
			for _, j := range jobs(t, svc.URL) {
				if j.State == "failed" {
					failed[j.Image] = j
				}
			}
			return failed[gone].ID != 0 && failed[hung].ID != 0
		})
		if j := failed[gone]; j.Attempts != 3 || !strings.Contains(j.LastError, "not found") {
			t.Fatalf("failed job for a deleted digest: %+v", j)
		}
		if j := failed[hung]; j.Attempts != 3 || !strings.Contains(j.LastError, "did not answer within 2s") {
			t.Fatalf("failed job for a hanging registry: %+v", j)
		}
		for _, im := range images(t, svc.URL) {
			if (im.Ref == gone || im.Ref == hung) && (im.Status != "failed" || im.LastErr == "") {
				t.Fatalf("image of a failed job: %+v", im)
			}
		}
		code, _ = get(t, svc.URL, "/healthz", "")
		if code != 200 {
			t.Fatalf("healthz after bad input: %d", code)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, b := get(t, svc.URL, "/metrics", secret)
		text := string(b)
		for _, want := range []string{`tollgate_serve_queue_depth{state="queued"}`, `tollgate_serve_scan_duration_seconds_count{kind="scan",result="done"} 2`,
			"tollgate_serve_notification_failures 0", `tollgate_serve_events_total{result="duplicate",source="distribution"}`, "tollgate_serve_db_changes_total 1"} {
			if code != 200 || !strings.Contains(text, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		if code, _ := get(t, svc.URL, "/readyz", ""); code != 200 {
			t.Errorf("readyz: %d", code)
		}
	})

	t.Run("canary", func(t *testing.T) {
		var outputs []string
		for _, p := range []string{"/", "/images/" + vulnRef, "/api/v1/images", "/api/v1/images/" + vulnRef, "/api/v1/images/" + vulnRef + "?format=sarif",
			"/api/v1/jobs", "/api/v1/notifications", "/metrics"} {
			_, b := get(t, svc.URL, p, secret)
			outputs = append(outputs, string(b))
		}
		svc.stop() // the shutdown lines are in the log too
		outputs = append(outputs, svc.Log.String())
		if !strings.Contains(svc.Log.String(), "job done") {
			t.Fatal("the captured log is not the service's")
		}
		for _, out := range outputs {
			for _, s := range []string{secret, registryPass, hookSecret} {
				if strings.Contains(out, s) {
					t.Fatalf("secret %q leaked into output:\n%.500s", s[:10], out)
				}
			}
		}
	})
}

func mustVariant(t *testing.T, i int) v1.Image {
	t.Helper()
	img, err := servetest.Variant(fx.Vulnerable, i)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func shortDigest(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return d[:19]
}
