package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func offlineConfig() *config.Config {
	c := config.Default()
	c.Scan.DB.Offline = true
	c.Scan.DB.CacheDir = fx.cacheDir
	return c
}

// runGated runs the native stage as the pipeline does: Stage.Run, an error becomes an error
// result, then the gate.
func runGated(t *testing.T, cfg *config.Config, root string, now time.Time, args ...string) *model.StageResult {
	t.Helper()
	env := &stage.Env{Root: root, Config: cfg, Tools: installer(), Args: args, Now: func() time.Time { return now }}
	s := Stage()
	res, err := s.Run(context.Background(), env)
	if err != nil {
		res = model.ErrorResult(Name, s.Tool, err)
	}
	gate.Apply(res, cfg, now)
	return res
}

func exitCode(res *model.StageResult) int {
	return (&model.Run{Stages: []*model.StageResult{res}}).ExitCode()
}

type key struct{ id, pkg string }

func byKey(fs []model.Finding) map[key]model.Finding {
	m := map[key]model.Finding{}
	for _, f := range fs {
		m[key{f.RuleID, f.Extra["package"]}] = f
	}
	return m
}

func TestScanFindsPlantedCVEs(t *testing.T) {
	needFixtures(t)
	trivy := toolPath(t, "trivy")
	for name, input := range map[string]string{"docker-archive": fx.vulnDocker, "oci-archive": fx.vulnOCITar, "oci-layout": fx.vulnLayout} {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			src, err := image.Open(context.Background(), input, work)
			if err != nil {
				t.Fatal(err)
			}
			opts, _ := OptionsFrom(offlineConfig(), "")
			rep, raw, err := Run(context.Background(), Request{Trivy: trivy, Source: src, Options: opts, WorkDir: work})
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 {
				t.Fatal("no raw report")
			}
			got := byKey(rep.Findings())
			for _, p := range testimage.Planted() {
				f, ok := got[key{p.ID, p.Package}]
				if !ok {
					t.Errorf("planted %s in %s %s not found", p.ID, p.Package, p.Installed)
					continue
				}
				if f.Severity.String() != p.Severity || f.Extra["installed"] != p.Installed || f.Extra["fixed"] != p.Fixed ||
					f.Extra["class"] != p.Class || f.Extra["type"] != p.Type {
					t.Errorf("%s %s: severity %s installed %s fixed %s class %s type %s; want %+v",
						p.ID, p.Package, f.Severity, f.Extra["installed"], f.Extra["fixed"], f.Extra["class"], f.Extra["type"], p)
				}
				if f.Title == "" || f.Title == f.RuleID || !strings.HasPrefix(f.URL, "https://") || f.Location.Resource != p.Package+"@"+p.Installed {
					t.Errorf("%s %s: title %q url %q resource %q", p.ID, p.Package, f.Title, f.URL, f.Location.Resource)
				}
			}
			if len(got) != len(testimage.Planted()) {
				t.Errorf("got %d findings, want exactly the %d planted: %v", len(got), len(testimage.Planted()), keys(got))
			}
			for id, why := range testimage.NotReported() {
				for k := range got {
					if k.id == id {
						t.Errorf("%s reported for %s, but %s", id, k.pkg, why)
					}
				}
			}
		})
	}
}

func keys(m map[key]model.Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k.id+"/"+k.pkg)
	}
	slices.Sort(out)
	return out
}

func TestGate(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	high := []string{"CVE-2024-5535", "CVE-2020-27813", "CVE-2021-23337", "CVE-2020-8203"}
	ignoreHigh := func(expires string) []config.Ignore {
		var igs []config.Ignore
		d, _ := time.Parse("2006-01-02", expires)
		for _, id := range high {
			igs = append(igs, config.Ignore{ID: id, Reason: "accepted until the base image update", Expires: config.Date{Time: d}})
		}
		return igs
	}
	tests := []struct {
		name         string
		cfg          func(c *config.Config)
		files        map[string]string
		now          time.Time
		status       model.Status
		blocking     []string // rule IDs that must block
		suppressed   map[string]string
		wantFindings int
	}{
		{name: "fails at HIGH by default", status: model.StatusFail, blocking: high, wantFindings: len(testimage.Planted())},
		{name: "passes when HIGH findings are ignored", cfg: func(c *config.Config) { c.Ignore = ignoreHigh("2026-12-31") },
			status: model.StatusPass, suppressed: map[string]string{"CVE-2024-5535": "config", "CVE-2020-27813": "config"}, wantFindings: len(testimage.Planted())},
		{name: "fails again once the ignore expired", cfg: func(c *config.Config) { c.Ignore = ignoreHigh("2026-11-26") },
			status: model.StatusFail, blocking: high, wantFindings: len(testimage.Planted())},
		{name: "fail-on CRITICAL lets HIGH through", cfg: func(c *config.Config) { c.Scan.FailOn = model.SeverityCritical },
			status: model.StatusFail, blocking: []string{"CVE-2024-5535"}, wantFindings: len(testimage.Planted())},
		{name: "severities filter what trivy reports", cfg: func(c *config.Config) { c.Scan.Severities = []model.Severity{model.SeverityMedium} },
			status: model.StatusPass, wantFindings: 4},
		{name: "VEX not_affected suppresses with justification", cfg: func(c *config.Config) {
			c.Scan.VEX = []string{"../../fixtures/vex/websocket.openvex.json"}
			c.Scan.FailOn = model.SeverityCritical
			c.Ignore = []config.Ignore{{ID: "CVE-2024-5535", Reason: "tracked in ticket 42"}}
		}, status: model.StatusPass, suppressed: map[string]string{"CVE-2020-27813": "vex", "CVE-2024-5535": "config"}, wantFindings: len(testimage.Planted())},
		{name: ".trivyignore honoured and shown as suppressed", files: map[string]string{".trivyignore": "# fixed in the next base image\nCVE-2024-5535 exp:2027-01-01\nCVE-2020-27813\nCVE-2021-23337\nCVE-2020-8203\n"},
			status: model.StatusPass, suppressed: map[string]string{"CVE-2024-5535": "trivyignore", "CVE-2021-23337": "trivyignore"}, wantFindings: len(testimage.Planted())},
		{name: ".trivyignore expiry passed", files: map[string]string{".trivyignore": "CVE-2024-5535 exp:2026-01-01\nCVE-2020-27813\nCVE-2021-23337\nCVE-2020-8203\n"},
			status: model.StatusFail, blocking: []string{"CVE-2024-5535"}, wantFindings: len(testimage.Planted())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for n, c := range tc.files {
				os.WriteFile(filepath.Join(root, n), []byte(c), 0o644)
			}
			cfg := offlineConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			for i, v := range cfg.Scan.VEX {
				cfg.Scan.VEX[i], _ = filepath.Abs(v)
			}
			res := runGated(t, cfg, root, now, fx.vulnDocker)
			if res.Status != tc.status {
				t.Fatalf("status %s (%s %s), want %s", res.Status, res.Summary, res.Error, tc.status)
			}
			if len(res.Findings) != tc.wantFindings {
				t.Errorf("%d findings, want %d", len(res.Findings), tc.wantFindings)
			}
			blocking := map[string]bool{}
			for _, f := range res.Findings {
				if f.Blocking {
					blocking[f.RuleID] = true
					if f.Severity < cfg.FailOn(Name) {
						t.Errorf("%s blocks at %s below the threshold", f.RuleID, f.Severity)
					}
				}
			}
			for _, id := range tc.blocking {
				if !blocking[id] {
					t.Errorf("%s does not block; blocking: %v", id, blocking)
				}
			}
			if tc.status == model.StatusFail && !strings.Contains(res.Summary, "at or above") {
				t.Errorf("summary %q does not explain the failure", res.Summary)
			}
			for _, f := range res.Findings {
				if kind, ok := tc.suppressed[f.RuleID]; ok {
					if f.Suppression == nil || f.Suppression.Kind != kind {
						t.Errorf("%s: suppression %+v, want kind %s", f.RuleID, f.Suppression, kind)
					}
					if kind == "vex" && !strings.Contains(f.Suppression.Reason, "vulnerable_code_not_in_execute_path") {
						t.Errorf("VEX reason %q lacks the justification", f.Suppression.Reason)
					}
				}
			}
		})
	}
}

func TestCleanImagePasses(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	out := t.TempDir()
	cfg := offlineConfig()
	env := &stage.Env{Root: t.TempDir(), Config: cfg, Tools: installer(), Args: []string{fx.cleanTar}, OutDir: out}
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	gate.Apply(res, cfg, time.Now())
	if res.Status != model.StatusPass || len(res.Findings) != 0 || exitCode(res) != 0 {
		t.Fatalf("clean image: %s %q with %d findings", res.Status, res.Summary, len(res.Findings))
	}
	// The raw report is kept as an artifact and shows trivy did look at the OS packages.
	raw, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil || len(res.Artifacts) != 1 {
		t.Fatalf("artifact: %v %v", res.Artifacts, err)
	}
	rep, err := ParseReport(raw)
	if err != nil || rep.Metadata.OS == nil || rep.Metadata.OS.Family != "alpine" {
		t.Fatalf("report OS = %+v, %v", rep.Metadata.OS, err)
	}
}

func TestBadImageInputsExit2(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	dir := t.TempDir()
	whole, _ := os.ReadFile(fx.vulnDocker)
	corrupt := filepath.Join(dir, "corrupt.tar")
	os.WriteFile(corrupt, whole[:len(whole)/3], 0o644)
	empty := filepath.Join(dir, "empty.tar")
	os.WriteFile(empty, nil, 0o644)
	notImage := filepath.Join(dir, "notimage.tar")
	writeTar(t, notImage, map[string]string{"README.md": "hello", "src/main.go": "package main"})
	for name, p := range map[string]string{"corrupt tarball": corrupt, "empty file": empty, "non-image tarball": notImage} {
		t.Run(name, func(t *testing.T) {
			res := runGated(t, offlineConfig(), dir, time.Now(), p)
			if res.Status != model.StatusError || res.ErrorKind != model.ErrKindInput || exitCode(res) != model.ExitUsage {
				t.Fatalf("%s: status %s kind %s exit %d (%s)", name, res.Status, res.ErrorKind, exitCode(res), res.Error)
			}
			if !strings.Contains(res.Error, filepath.Base(p)) {
				t.Errorf("error %q does not name the file", res.Error)
			}
		})
	}
}

func TestToolFailuresExit3(t *testing.T) {
	needFixtures(t)
	trivy := toolPath(t, "trivy")
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The report path follows --output in the args; scripts write garbage there.
	const outArg = `while [ $# -gt 0 ]; do if [ "$1" = --output ]; then out=$2; fi; shift; done`
	tests := []struct {
		name, bin, want string
		timeout         time.Duration
	}{
		{"crash", script("crash", "kill -SEGV $$"), "crashed", 0},
		{"fatal exit", script("fatal", "echo 'FATAL image scan error: boom' >&2; exit 1"), "exited 1", 0},
		{"garbage report", script("garbage", outArg+"\necho 'not json' > \"$out\""), "unreadable JSON", 0},
		{"no report", script("silent", "exit 0"), "wrote no report", 0},
		{"hang past timeout", script("hang", "exec sleep 30"), "did not finish", 300 * time.Millisecond},
		{"real trivy, timeout", trivy, "", time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			src, err := image.Open(context.Background(), fx.vulnDocker, work)
			if err != nil {
				t.Fatal(err)
			}
			opts, _ := OptionsFrom(offlineConfig(), "")
			opts.Timeout = tc.timeout
			_, _, err = Run(context.Background(), Request{Trivy: tc.bin, Source: src, Options: opts, WorkDir: work})
			var te *model.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *model.ToolError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q lacks %q", err, tc.want)
			}
			if code := exitCode(model.ErrorResult(Name, Tool(), err)); code != model.ExitTool {
				t.Errorf("exit %d, want 3", code)
			}
		})
	}
}

func TestTimeoutFromConfigFailsClosed(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	cfg := offlineConfig()
	cfg.Scan.Timeout = "1ms"
	res := runGated(t, cfg, t.TempDir(), time.Now(), fx.vulnDocker)
	if res.Status != model.StatusError || exitCode(res) != model.ExitTool {
		t.Fatalf("status %s exit %d (%s)", res.Status, exitCode(res), res.Error)
	}
}

func TestOfflineDBProblemsFailClosed(t *testing.T) {
	needFixtures(t)
	trivy := toolPath(t, "trivy")
	stale := filepath.Join(t.TempDir(), "stale")
	if err := copyDir(fx.cacheDir, stale); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "db", "metadata.json"),
		[]byte(`{"Version":2,"NextUpdate":"2026-01-02T00:00:00Z","UpdatedAt":"2026-01-01T00:00:00Z"}`), 0o644)
	oldSchema := filepath.Join(t.TempDir(), "old")
	copyDir(fx.cacheDir, oldSchema)
	os.WriteFile(filepath.Join(oldSchema, "db", "metadata.json"),
		[]byte(`{"Version":1,"NextUpdate":"2026-11-28T00:00:00Z","UpdatedAt":"2026-11-27T00:00:00Z"}`), 0o644)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct{ dir, want string }{
		"missing":    {t.TempDir(), "offline DB missing"},
		"stale":      {stale, "stale"},
		"old schema": {oldSchema, "schema version 1"},
		"unset":      {"", "needs scan.db.cache-dir"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := offlineConfig()
			cfg.Scan.DB.CacheDir = tc.dir
			res := runGated(t, cfg, t.TempDir(), now, fx.vulnDocker)
			if res.Status != model.StatusError || exitCode(res) != model.ExitTool || !strings.Contains(res.Error, tc.want) ||
				!strings.Contains(res.Error, ErrDBUnavailable.Error()) {
				t.Fatalf("status %s exit %d error %q, want exit 3 with %q", res.Status, exitCode(res), res.Error, tc.want)
			}
		})
	}
	// Without our pre-check, trivy's own refusal maps to the same clear error.
	t.Run("trivy refuses an empty cache", func(t *testing.T) {
		work := t.TempDir()
		src, err := image.Open(context.Background(), fx.vulnDocker, work)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Run(context.Background(), Request{Trivy: trivy, Source: src, Options: Options{Offline: true, CacheDir: t.TempDir()}, WorkDir: work})
		if !errors.Is(err, ErrDBUnavailable) {
			t.Fatalf("err = %v, want ErrDBUnavailable", err)
		}
	})
}

func TestMissingImageSkips(t *testing.T) {
	res := runGated(t, offlineConfig(), t.TempDir(), time.Now())
	if res.Status != model.StatusSkipped || !strings.Contains(res.Error, "no image") {
		t.Fatalf("status %s %q", res.Status, res.Error)
	}
}

func TestBadSuppressionFilesExit2(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "bad.json"), []byte(`{"bomFormat":"CycloneDX"}`), 0o644)
	os.WriteFile(filepath.Join(root, ".trivyignore"), []byte("CVE-1 exp:never\n"), 0o644)
	for name, tc := range map[string]struct {
		mut  func(c *config.Config)
		want string
	}{
		"missing VEX":         {func(c *config.Config) { c.Scan.VEX = []string{"nope.json"} }, "nope.json"},
		"not OpenVEX":         {func(c *config.Config) { c.Scan.VEX = []string{"bad.json"} }, "not an OpenVEX document"},
		"bad .trivyignore":    {func(c *config.Config) {}, ".trivyignore:1"},
		"missing trivyignore": {func(c *config.Config) { c.Scan.TrivyIgnore = "other-ignore" }, "other-ignore"},
		"bad timeout":         {func(c *config.Config) { c.Scan.Timeout = "soon" }, "scan.timeout"},
		"bad max age":         {func(c *config.Config) { c.Scan.DB.MaxAge = "a week" }, "scan.db.max-age"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := offlineConfig()
			tc.mut(cfg)
			res := runGated(t, cfg, root, time.Now(), "whatever.tar")
			if exitCode(res) != model.ExitUsage || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("exit %d (%s), want 2 naming %q", exitCode(res), res.Error, tc.want)
			}
		})
	}
}

func TestStageSharesOpenedImage(t *testing.T) {
	needFixtures(t)
	toolPath(t, "trivy")
	shared := &stage.Shared{}
	work := t.TempDir()
	// Another stage (sbom) opened the OCI archive first; scan must reuse that extraction, which
	// it can only do once the archive itself is gone.
	archive := filepath.Join(t.TempDir(), "app.oci.tar")
	if err := copyFile(fx.vulnOCITar, archive); err != nil {
		t.Fatal(err)
	}
	first, err := image.Shared(context.Background(), shared, archive, work)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(archive)
	cfg := offlineConfig()
	env := &stage.Env{Root: t.TempDir(), Config: cfg, Tools: installer(), Args: []string{archive}, Shared: shared, WorkDir: work}
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != len(testimage.Planted()) {
		t.Fatalf("%d findings, want %d", len(res.Findings), len(testimage.Planted()))
	}
	if v, ok := shared.Get(image.SharedKey); !ok || v.(*image.Source) != first {
		t.Fatalf("scan did not reuse the shared source")
	}
}
