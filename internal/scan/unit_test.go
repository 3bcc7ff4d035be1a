package scan

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestImageArgs(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		image     []string
		want      []string // must appear, in order, as a contiguous run
		forbidden []string
	}{
		{"offline", Options{CacheDir: "/c", Offline: true, DBRepository: "mirror.example/db"}, []string{"--input", "/x.tar"},
			[]string{"--skip-db-update", "--skip-java-db-update", "--offline-scan"}, []string{"--db-repository", "--image-src"}},
		{"mirror", Options{DBRepository: "mirror.example/trivy-db"}, []string{"registry.example/app:1"},
			[]string{"--db-repository", "mirror.example/trivy-db"}, []string{"--offline-scan", "--cache-dir"}},
		{"registry from registry only", Options{}, []string{"registry.example/app:1"}, []string{"--image-src", "remote", "registry.example/app:1"}, nil},
		{"severities", Options{Severities: []model.Severity{model.SeverityCritical, model.SeverityInfo, model.SeverityHigh}}, []string{"--input", "/d"},
			[]string{"--severity", "CRITICAL,HIGH"}, nil},
		{"unfixed and timeout", Options{IgnoreUnfixed: true, Timeout: 90 * time.Second}, []string{"--input", "/d"},
			[]string{"--ignore-unfixed", "--timeout", "1m30s"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ImageArgs(tc.opts, tc.image, "/out/trivy.json")
			for _, always := range [][]string{{"image"}, {"--skip-version-check"}, {"--disable-telemetry"}, {"--quiet"}, {"--format", "json"},
				{"--output", "/out/trivy.json"}, {"--exit-code", "0"}, {"--scanners", "vuln"}, tc.want} {
				if !containsRun(got, always) {
					t.Errorf("args %q lack %q", got, always)
				}
			}
			for _, f := range tc.forbidden {
				if slices.Contains(got, f) {
					t.Errorf("args %q contain %q", got, f)
				}
			}
			if !slices.Equal(got[len(got)-len(tc.image):], tc.image) {
				t.Errorf("args %q do not end with the image %q", got, tc.image)
			}
			if got[0] != "image" {
				t.Errorf("first arg %q", got[0])
			}
		})
	}
}

func containsRun(list, run []string) bool {
	for i := 0; i+len(run) <= len(list); i++ {
		if slices.Equal(list[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

const sampleReport = `{
  "SchemaVersion": 2,
  "ArtifactName": "img.tar",
  "Results": [
    {"Target": "img.tar (alpine 3.19.1)", "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2023-5678", "PkgID": "libssl3@3.1.4-r0", "PkgName": "libssl3", "PkgIdentifier": {"PURL": "pkg:apk/alpine/libssl3@3.1.4-r0?arch=x86_64&distro=3.19.1"},
       "InstalledVersion": "3.1.4-r0", "FixedVersion": "3.1.4-r1", "Status": "fixed", "Severity": "MEDIUM",
       "Description": "Issue summary: Generating excessively long X9.42 DH keys may be very slow. More text.", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2023-5678"},
      {"VulnerabilityID": "CVE-2024-5535", "PkgName": "libssl3", "InstalledVersion": "3.1.4-r0", "FixedVersion": "3.1.6-r0", "Severity": "CRITICAL", "Title": "openssl: SSL_select_next_proto buffer overread"}
    ]},
    {"Target": "usr/local/bin/app", "Class": "lang-pkgs", "Type": "gobinary", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2020-27813", "PkgName": "github.com/gorilla/websocket", "InstalledVersion": "v1.4.0", "FixedVersion": "", "Severity": "HIGH", "Title": "Integer overflow"}
    ]},
    {"Target": "Node.js", "Class": "lang-pkgs", "Type": "node-pkg"}
  ]
}`

func TestParse(t *testing.T) {
	fs, err := Parse([]byte(sampleReport))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.RuleID)
	}
	if want := []string{"CVE-2024-5535", "CVE-2020-27813", "CVE-2023-5678"}; !slices.Equal(ids, want) {
		t.Fatalf("order %v, want most severe first %v", ids, want)
	}
	crit, gob, med := fs[0], fs[1], fs[2]
	if crit.Severity != model.SeverityCritical || crit.Title != "openssl: SSL_select_next_proto buffer overread" || crit.Fix != "upgrade libssl3 to 3.1.6-r0" {
		t.Errorf("critical finding %+v", crit)
	}
	if med.Title != "Generating excessively long X9.42 DH keys may be very slow" {
		t.Errorf("title from description = %q", med.Title)
	}
	if med.Location.Resource != "libssl3@3.1.4-r0" || med.URL != "https://avd.aquasec.com/nvd/cve-2023-5678" ||
		med.Extra["installed"] != "3.1.4-r0" || med.Extra["fixed"] != "3.1.4-r1" || med.Extra["class"] != "os-pkgs" ||
		!strings.HasPrefix(med.Extra["purl"], "pkg:apk/alpine/libssl3@") || med.Stage != Name {
		t.Errorf("medium finding %+v", med)
	}
	if gob.Location.File != "usr/local/bin/app" || gob.Fix != "" || !strings.Contains(gob.Message, "no fixed version") {
		t.Errorf("go finding %+v", gob)
	}
}

func TestParseGarbageIsToolError(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         "",
		"not json":      "FATAL something broke",
		"wrong schema":  `{"SchemaVersion": 1, "Results": []}`,
		"truncated":     sampleReport[:200],
		"no vuln id":    `{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"PkgName": "a"}]}]}`,
		"json null":     "null",
		"array":         "[]",
		"schema string": `{"SchemaVersion": "2"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			var te *model.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *model.ToolError", err)
			}
		})
	}
}

func TestCheckDBMetadata(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	md := func(version int, updated time.Time) []byte {
		return []byte(`{"Version":` + strconv.Itoa(version) + `,"NextUpdate":"` + updated.Add(24*time.Hour).Format(time.RFC3339) + `","UpdatedAt":"` + updated.Format(time.RFC3339) + `"}`)
	}
	tests := []struct {
		name    string
		data    []byte
		maxAge  time.Duration
		wantErr string
	}{
		{"fresh", md(2, now.Add(-time.Hour)), 7 * 24 * time.Hour, ""},
		{"stale", md(2, now.Add(-8*24*time.Hour)), 7 * 24 * time.Hour, "stale"},
		{"age check off", md(2, now.Add(-800*24*time.Hour)), 0, ""},
		{"old schema", md(1, now), time.Hour, "schema version 1"},
		{"garbage", []byte("{"), time.Hour, "not valid DB metadata"},
		{"no timestamps", []byte(`{"Version":2}`), time.Hour, "no UpdatedAt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckDBMetadata("metadata.json", tc.data, tc.maxAge, now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *model.ToolError
			if !errors.As(err, &te) || !errors.Is(err, ErrDBUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ToolError wrapping ErrDBUnavailable containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckOfflineDBMissing(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		_, err := CheckOfflineDB(dir, time.Hour, time.Now())
		if !errors.Is(err, ErrDBUnavailable) {
			t.Errorf("dir %q: err = %v", dir, err)
		}
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "48h": 48 * time.Hour, "0d": 0} {
		got, err := ParseAge(in)
		if err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1d", "7days", "-5h"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) accepted", bad)
		}
	}
}

func TestTrivyIgnore(t *testing.T) {
	findings := func() []model.Finding {
		fs, _ := Parse([]byte(sampleReport))
		return fs
	}
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, file, content string
		suppressed          map[string]string // rule -> reason substring
		wantErrLine         int
	}{
		{"plain with reasons and expiry", ".trivyignore", "# DH keys are never generated\n# by this service\nCVE-2023-5678\n\nCVE-2024-5535 exp:2027-01-31\n",
			map[string]string{"CVE-2023-5678": "DH keys are never generated by this service (.trivyignore:3)", "CVE-2024-5535": "listed in .trivyignore"}, 0},
		{"expired entry stops applying", ".trivyignore", "CVE-2020-27813 exp:2026-11-26\n", map[string]string{}, 0},
		{"inline comment is the reason", ".trivyignore", "CVE-2020-27813 exp:2027-01-01 # server never started\n", map[string]string{"CVE-2020-27813": "server never started"}, 0},
		{"bad expiry", ".trivyignore", "CVE-1\nCVE-2 exp:soon\n", nil, 2},
		{"junk after id", ".trivyignore", "CVE-2 because\n", nil, 1},
		{"yaml with purl and path filters", ".trivyignore.yaml", `vulnerabilities:
  - id: CVE-2023-5678
    purls: ["pkg:apk/alpine/libssl3"]
    statement: not reachable
  - id: CVE-2020-27813
    paths: ["usr/local/bin/other"]
  - id: CVE-2024-5535
    expired_at: 2027-01-01
`, map[string]string{"CVE-2023-5678": "not reachable", "CVE-2024-5535": "listed in"}, 0},
		{"yaml without id", ".trivyignore.yaml", "vulnerabilities:\n  - statement: x\n", nil, 2},
		{"yaml bad date", ".trivyignore.yml", "vulnerabilities:\n  - id: CVE-1\n    expired_at: tomorrow\n", nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseTrivyIgnore(tc.file, []byte(tc.content))
			if tc.wantErrLine > 0 {
				var ie *model.InputError
				if !errors.As(err, &ie) || ie.Line != tc.wantErrLine || ie.File != tc.file {
					t.Fatalf("err = %#v, want InputError at %s:%d", err, tc.file, tc.wantErrLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fs := findings()
			ApplyIgnores(fs, rules)
			res := &model.StageResult{Stage: Name, Findings: fs}
			gate.Apply(res, config.Default(), now)
			for _, f := range res.Findings {
				want, ok := tc.suppressed[f.RuleID]
				switch {
				case ok && (f.Suppression == nil || f.Suppression.Kind != "trivyignore" || !strings.Contains(f.Suppression.Reason, want)):
					t.Errorf("%s: suppression %+v, want trivyignore with %q", f.RuleID, f.Suppression, want)
				case !ok && f.Suppression != nil:
					t.Errorf("%s suppressed unexpectedly: %+v", f.RuleID, f.Suppression)
				}
			}
		})
	}
}

func TestOptionsFromYAML(t *testing.T) {
	c, err := config.Parse("tollgate.yaml", []byte(`
scan:
  image: app.tar
  fail-on: CRITICAL
  severities: [CRITICAL, HIGH]
  ignore-unfixed: true
  vex: [vex/app.openvex.json]
  db:
    offline: true
    cache-dir: .trivy
    max-age: 48h
  timeout: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := OptionsFrom(c, "/proj")
	if err != nil {
		t.Fatal(err)
	}
	if !o.Offline || o.CacheDir != "/proj/.trivy" || o.MaxDBAge != 48*time.Hour || o.Timeout != 2*time.Minute ||
		!o.IgnoreUnfixed || len(o.Severities) != 2 || c.FailOn(Name) != model.SeverityCritical {
		t.Fatalf("options %+v", o)
	}
	d, _ := OptionsFrom(config.Default(), "/proj")
	if d.Offline || d.CacheDir != "" || d.MaxDBAge != 7*24*time.Hour || d.Timeout != 10*time.Minute || config.Default().FailOn(Name) != model.SeverityHigh {
		t.Fatalf("defaults %+v", d)
	}
	if _, err := config.Parse("tollgate.yaml", []byte("scan:\n  db:\n    offline: yes-please\n")); err == nil {
		t.Fatal("bad bool accepted")
	}
}

// BenchmarkParse measures parsing a report of ~3,000 vulnerabilities (a large distro image).
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"SchemaVersion": 2, "Results": [{"Target": "img (debian 12)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [`)
	for i := 0; i < 3000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"VulnerabilityID": "CVE-2024-` + strconv.Itoa(10000+i) + `", "PkgName": "pkg` + strconv.Itoa(i%300) + `", "InstalledVersion": "1.0-1", "FixedVersion": "1.0-2", "Severity": "HIGH", "Description": "Something. More.", "PrimaryURL": "https://avd.aquasec.com/nvd/cve"}`)
	}
	sb.WriteString(`]}]}`)
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestExitError(t *testing.T) {
	tests := []struct {
		stderr string
		dbErr  bool
		want   string
	}{
		{"FATAL\tFatal error\tinit error: DB error: --skip-db-update cannot be specified on the first run", true, "no DB in its cache dir"},
		{"FATAL ... --skip-db-update cannot be specified with the old DB schema. Local DB: 1, Expected: 2", true, "rejected the DB schema"},
		{"FATAL unable to initialize fs cache: cache may be in use by another process: timeout", false, "locked by another trivy process"},
		{"line1\nFATAL image scan error: boom", false, "exited 1 scanning img: line1\nFATAL image scan error: boom"},
	}
	for _, tc := range tests {
		err := ExitError(1, []byte(tc.stderr), "img")
		var te *model.ToolError
		if !errors.As(err, &te) || errors.Is(err, ErrDBUnavailable) != tc.dbErr || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ExitError(%q) = %v, want ToolError (db=%v) containing %q", tc.stderr, err, tc.dbErr, tc.want)
		}
	}
}
