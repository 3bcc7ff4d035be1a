package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/trivydb"
)

// cliProcessEnv makes the test binary behave as the tollgate command (see TestMain), so tests
// can run real concurrent tollgate processes without building the command first.
const cliProcessEnv = "TOLLGATE_CLI_TEST_AS_MAIN"

// cacheFx is built once: the images and advisory sets the cache tests scan.
var cacheFx struct {
	once       sync.Once
	err        error
	vulnerable string // docker archive of the vulnerable fixture image
	clean      string // docker archive of the clean fixture image
	advisories string // fixture advisories minus the lodash CVE-2021-23337 one (an "older" DB)
	dir        string
}

const lateCVE = "CVE-2021-23337" // only in the full advisory set: appears with a DB update

func cacheFixtures(t *testing.T) {
	t.Helper()
	cacheFx.once.Do(func() {
		cacheFx.err = func() error {
			ctx := context.Background()
			dir, err := os.MkdirTemp("", "tollgate-cli-cache-*")
			if err != nil {
				return err
			}
			cacheFx.dir = dir
			bin, err := testimage.GoBinary(ctx, dir)
			if err != nil {
				return err
			}
			vuln, err := testimage.Vulnerable(bin)
			if err != nil {
				return err
			}
			clean, err := testimage.Clean()
			if err != nil {
				return err
			}
			cacheFx.vulnerable = filepath.Join(dir, "vulnerable.tar")
			cacheFx.clean = filepath.Join(dir, "clean.tar")
			if err := testimage.WriteDockerArchive(vuln, "tollgate/fixture-vulnerable:1", cacheFx.vulnerable); err != nil {
				return err
			}
			if err := testimage.WriteDockerArchive(clean, "tollgate/fixture-clean:1", cacheFx.clean); err != nil {
				return err
			}
			cacheFx.advisories = filepath.Join(dir, "advisories-old")
			if err := copyTree(filepath.Join(fixtures, "advisories"), cacheFx.advisories); err != nil {
				return err
			}
			return os.RemoveAll(filepath.Join(cacheFx.advisories, "ghsa", "advisories", "github-reviewed", "2021", "05", "GHSA-35jh-r3h4-6jhm"))
		}()
	})
	if cacheFx.err != nil {
		t.Fatalf("cache test fixtures: %v", cacheFx.err)
	}
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode())
	})
}

// cacheProject is the demo app with an image and an offline DB, and a tool cache of its own
// whose tools and schemas are the shared ones: its result cache starts empty.
type cacheProject struct {
	t        *testing.T
	dir      string
	cacheDir string
}

func newCacheProject(t *testing.T) *cacheProject {
	t.Helper()
	cacheFixtures(t)
	p := &cacheProject{t: t, dir: filepath.Join(t.TempDir(), "app"), cacheDir: t.TempDir()}
	if err := copyTree(filepath.Join(fixtures, "demo"), p.dir); err != nil {
		t.Fatal(err)
	}
	shared := tools.DefaultCacheDir()
	for _, d := range []string{"tools", "schemas"} {
		if err := os.MkdirAll(filepath.Join(shared, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(shared, d), filepath.Join(p.cacheDir, d)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(cacheFx.vulnerable)
	if err != nil {
		t.Fatal(err)
	}
	p.write("image.tar", string(b))
	vex, err := os.ReadFile(filepath.Join(fixtures, "vex", "websocket.openvex.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.write("vex.json", string(vex))
	p.buildDB(cacheFx.advisories, time.Now().Add(-time.Hour))
	cfg, err := os.ReadFile(filepath.Join(p.dir, "tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p.write("tollgate.yaml", string(cfg)+`scan:
  image: image.tar
  vex: [vex.json]
  db:
    offline: true
    cache-dir: trivy-cache
`)
	return p
}

func (p *cacheProject) write(name, body string) {
	p.t.Helper()
	writeFile(p.t, filepath.Join(p.dir, name), body)
}

func (p *cacheProject) edit(name, old, new string) {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		p.t.Fatalf("%s has no %q", name, old)
	}
	p.write(name, strings.Replace(string(b), old, new, 1))
}

func (p *cacheProject) buildDB(advisories string, at time.Time) {
	p.t.Helper()
	if err := trivydb.Build(context.Background(), advisories, filepath.Join(p.dir, "trivy-cache"), at); err != nil {
		p.t.Fatal(err)
	}
}

// cachedReport is what the cache tests read from tollgate.json.
type cachedReport struct {
	ExitCode int `json:"exit_code"`
	Stages   []struct {
		Stage    string `json:"stage"`
		Status   string `json:"status"`
		Error    string `json:"error"`
		Cached   bool   `json:"cached"`
		Findings []struct {
			Rule string `json:"rule"`
		} `json:"findings"`
		Suppressed []struct {
			Rule string `json:"rule"`
		} `json:"suppressed"`
		Artifacts []struct {
			Name string `json:"name"`
			Path string `json:"path"`
		} `json:"artifacts"`
	} `json:"stages"`
}

func (r *cachedReport) byStage() map[string]int {
	m := map[string]int{}
	for i, s := range r.Stages {
		m[s.Stage] = i
	}
	return m
}

// run runs `tollgate run` on the project and returns the report and which stages ran (were not
// served from the cache).
func (p *cacheProject) run(extra ...string) (*cachedReport, map[string]bool) {
	p.t.Helper()
	args := append([]string{"run", p.dir, "--cache-dir", p.cacheDir, "--format", "json", "--progress", "none",
		"--out", filepath.Join(p.t.TempDir(), "reports"), "--stages", "lint,validate,score,sbom,scan"}, extra...)
	code, out, stderr := tollgate(p.t, args...)
	var r cachedReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		p.t.Fatalf("exit %d, stdout is not the JSON report: %v\n%s\n%s", code, err, out, stderr)
	}
	if code != r.ExitCode {
		p.t.Fatalf("exit %d, report says %d", code, r.ExitCode)
	}
	ran := map[string]bool{}
	for _, s := range r.Stages {
		if s.Status == "error" || s.Status == "skipped" {
			p.t.Fatalf("stage %s %s: %s\n%s", s.Stage, s.Status, s.Error, stderr)
		}
		if !s.Cached {
			ran[s.Stage] = true
		}
	}
	return &r, ran
}

func sameSet(got map[string]bool, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !got[w] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestWarmRunIsServedFromTheCacheAndEveryInputReruns runs the demo project cold, warm, and then
// changes one input at a time: exactly the stages that read it run again; the others come from
// the cache. The scan fails its gate (the fixture image has CRITICAL CVEs), cached or not.
func TestWarmRunIsServedFromTheCacheAndEveryInputReruns(t *testing.T) {
	p := newCacheProject(t)
	all := []string{"lint", "validate", "score", "sbom", "scan"}
	cold, ran := p.run()
	if !sameSet(ran, all...) {
		t.Fatalf("cold run: ran %v, want all", keys(ran))
	}
	if cold.ExitCode != 1 {
		t.Fatalf("cold run exit %d, want 1 (the scan gate fails)", cold.ExitCode)
	}
	warm, ran := p.run()
	if len(ran) != 0 {
		t.Fatalf("warm run ran %v, want every stage from the cache", keys(ran))
	}
	if warm.ExitCode != 1 || warm.Stages[warm.byStage()["scan"]].Status != "fail" {
		t.Fatal("the cached scan failure did not stay a failure")
	}
	// Artifacts are restored into the new --out dir.
	for _, st := range []string{"sbom", "scan"} {
		s := warm.Stages[warm.byStage()[st]]
		if len(s.Artifacts) == 0 {
			t.Fatalf("%s: no artifacts in the cached result", st)
		}
		for _, a := range s.Artifacts {
			if fi, err := os.Stat(a.Path); err != nil || fi.Size() == 0 {
				t.Errorf("%s artifact %s not restored at %s: %v", st, a.Name, a.Path, err)
			}
		}
	}

	steps := []struct {
		name   string
		change func()
		extra  []string
		want   []string
		check  func(r *cachedReport)
	}{
		{name: "one byte of a manifest", change: func() { p.edit("k8s/deployment.yaml", "replicas: 2", "replicas: 3") }, want: []string{"validate", "score"}},
		{name: "one byte of the Dockerfile", change: func() { p.edit("Dockerfile", "EXPOSE 8080", "EXPOSE 8081") }, want: []string{"lint"}},
		{name: "the .dockerignore", change: func() { p.write(".dockerignore", "*\n!src/\n") }, want: []string{"lint"}},
		{name: "a build arg lint resolves", change: func() {
			p.edit("tollgate.yaml", "version: 1\n", "version: 1\nbuild:\n  build-args: {GO_VERSION: \"1.25\"}\n")
		}, want: []string{"lint"}},
		{name: "a validate setting", change: func() {
			p.edit("tollgate.yaml", "kubernetes-version: 1.36.0", "kubernetes-version: 1.36.0\n  strict: false")
		}, want: []string{"validate"}},
		{name: "a score setting", change: func() {
			p.edit("tollgate.yaml", "version: 1\n", "version: 1\nscore:\n  ignore-checks: [pod-probes]\n")
		}, want: []string{"score"}},
		{name: "an SBOM format", extra: []string{"--sbom-format", "spdx-json"}, want: []string{"sbom"}},
		{name: "the threshold only (gate at read time)", extra: []string{"--scan-fail-on", "CRITICAL", "--sbom-format", "spdx-json"}, want: nil,
			check: func(r *cachedReport) {
				if r.ExitCode != 1 {
					t.Errorf("CRITICAL CVEs must still fail: exit %d", r.ExitCode)
				}
			}},
		{name: "the VEX document", change: func() { p.edit("vex.json", "frame reader is never called", "frame reader is not called") }, want: []string{"scan"}},
		{name: "a .trivyignore", change: func() { p.write(".trivyignore", "CVE-2024-0727\n") }, want: []string{"scan"},
			check: func(r *cachedReport) {
				s := r.Stages[r.byStage()["scan"]]
				found := false
				for _, f := range s.Suppressed {
					found = found || f.Rule == "CVE-2024-0727"
				}
				if !found {
					t.Error("the .trivyignore entry did not suppress CVE-2024-0727")
				}
			}},
		{name: "a DB update", change: func() { p.buildDB(filepath.Join(fixtures, "advisories"), time.Now()) }, want: []string{"scan"},
			check: func(r *cachedReport) {
				s := r.Stages[r.byStage()["scan"]]
				found := false
				for _, f := range append(s.Findings, s.Suppressed...) {
					found = found || f.Rule == lateCVE
				}
				if !found {
					t.Errorf("the updated DB's %s is not in the rerun scan", lateCVE)
				}
			}},
		{name: "the image", change: func() {
			b, err := os.ReadFile(cacheFx.clean)
			if err != nil {
				t.Fatal(err)
			}
			p.write("image.tar", string(b))
		}, want: []string{"sbom", "scan"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				st.change()
			}
			r, ran := p.run(st.extra...)
			if !sameSet(ran, st.want...) {
				t.Errorf("ran %v, want exactly %v", keys(ran), st.want)
			}
			if st.check != nil {
				st.check(r)
			}
			if _, again := p.run(st.extra...); len(again) != 0 {
				t.Errorf("the run after it ran %v again", keys(again))
			}
		})
	}
	// A DB update must never be served a result from the old DB: go back to the old DB (newer
	// UpdatedAt, old content) and the scan runs again and loses the late CVE.
	p.buildDB(cacheFx.advisories, time.Now().Add(time.Minute))
	p.write("image.tar", string(mustRead(t, cacheFx.vulnerable)))
	r, ran := p.run()
	if !ran["scan"] {
		t.Fatal("scan not rerun after the DB changed")
	}
	for _, f := range r.Stages[r.byStage()["scan"]].Findings {
		if f.Rule == lateCVE {
			t.Errorf("%s reported with a DB that does not have it", lateCVE)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReportsMarkCachedResults(t *testing.T) {
	p := newCacheProject(t)
	p.run()
	out := t.TempDir()
	code, table, stderr := tollgate(t, "run", p.dir, "--cache-dir", p.cacheDir, "--progress", "plain", "--out", out, "--stages", "lint,validate")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(table, "(cached)") || !strings.Contains(table, "(2 from the result cache)") {
		t.Errorf("table does not say the results are cached:\n%s", table)
	}
	if !strings.Contains(stderr, "result from the cache") {
		t.Errorf("progress does not say so:\n%s", stderr)
	}
	for file, want := range map[string]string{
		"tollgate.json":  `"cached": true`,
		"summary.md":     "2 from the result cache",
		"tollgate.sarif": `"cached": true`,
		"junit.xml":      `<property name="cached" value="true">`,
	} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", file, want)
		}
	}
	// --no-cache reruns (and says nothing about the cache).
	code, table, _ = tollgate(t, "run", p.dir, "--cache-dir", p.cacheDir, "--progress", "none", "--out", "", "--stages", "lint,validate", "--no-cache")
	if code != 0 || strings.Contains(table, "cached") {
		t.Errorf("--no-cache: exit %d\n%s", code, table)
	}
}

func TestCachePruneAndDisabledCache(t *testing.T) {
	p := newCacheProject(t)
	p.run()
	code, out, stderr := tollgate(t, "cache", "prune", "--cache-dir", p.cacheDir, "-C", p.dir, "--all")
	if code != 0 || !strings.Contains(out, "removed 5") {
		t.Fatalf("prune --all: exit %d: %s%s", code, out, stderr)
	}
	if _, ran := p.run(); len(ran) != 5 {
		t.Fatalf("after prune --all ran %v, want every stage", keys(ran))
	}
	code, out, _ = tollgate(t, "cache", "prune", "--cache-dir", p.cacheDir, "--max-size", "1B")
	if code != 0 || !strings.Contains(out, "removed 5") {
		t.Fatalf("prune --max-size 1B: exit %d: %s", code, out)
	}
	if code, _, stderr := tollgate(t, "cache", "prune", "--cache-dir", p.cacheDir, "--max-size", "lots"); code != 2 || !strings.Contains(stderr, "--max-size") {
		t.Errorf("bad --max-size: exit %d %s", code, stderr)
	}
	p.edit("tollgate.yaml", "version: 1\n", "version: 1\ncache:\n  enabled: false\n")
	p.run()
	if _, ran := p.run(); len(ran) != 5 {
		t.Fatalf("cache.enabled false: ran %v, want every stage", keys(ran))
	}
	p.edit("tollgate.yaml", "enabled: false", "max-size: huge")
	if code, _, stderr := tollgate(t, "run", p.dir, "--cache-dir", p.cacheDir, "--out", ""); code != 2 || !strings.Contains(stderr, "cache.max-size") {
		t.Errorf("bad cache.max-size: exit %d %s", code, stderr)
	}
}

// TestConcurrentRunsShareTheCache runs two tollgate processes on one project and one cache at
// the same time: both must finish with the right result, and a third run is served entirely
// from what they stored.
func TestConcurrentRunsShareTheCache(t *testing.T) {
	p := newCacheProject(t)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "run", p.dir, "--cache-dir", p.cacheDir, "--format", "json", "--progress", "none",
			"--out", filepath.Join(t.TempDir(), "reports"), "--stages", "lint,validate,score,sbom,scan")
		cmd.Env = append(os.Environ(), cliProcessEnv+"=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
		if !strings.Contains(outs[i].String(), `"exit_code": 1`) {
			t.Errorf("process %d did not report the failed scan gate:\n%s", i, outs[i])
		}
	}
	if _, ran := p.run(); len(ran) != 0 {
		t.Errorf("after two concurrent runs, a third ran %v", keys(ran))
	}
}

func TestChangedChecksOnlyWhatChanged(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	p := newCacheProject(t)
	p.write(".gitignore", "trivy-cache/\n")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", p.dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "app")
	changed := func() map[string]string {
		t.Helper()
		// --out like p.run's: whether artifacts are kept is part of the sbom and scan keys.
		code, out, stderr := tollgate(t, "run", p.dir, "--changed", "HEAD", "--cache-dir", p.cacheDir, "--format", "json", "--progress", "plain",
			"--out", filepath.Join(t.TempDir(), "reports"), "--stages", "lint,validate,score,sbom,scan")
		var r cachedReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("exit %d: %v\n%s", code, err, stderr)
		}
		m := map[string]string{}
		for _, s := range r.Stages {
			switch {
			case s.Cached:
				m[s.Stage] = "cached"
			case s.Status == "skipped":
				m[s.Stage] = "skipped"
			default:
				m[s.Stage] = "ran"
			}
		}
		return m
	}
	// Nothing changed and nothing cached: the project stages are skipped; the image stages go by
	// the image's digest and run.
	got := changed()
	want := map[string]string{"lint": "skipped", "validate": "skipped", "score": "skipped", "sbom": "ran", "scan": "ran"}
	for s, w := range want {
		if got[s] != w {
			t.Errorf("clean tree, empty cache: %s %s, want %s", s, got[s], w)
		}
	}
	p.run() // fills the cache
	p.edit("k8s/service.yaml", "port: 80", "port: 81")
	got = changed()
	want = map[string]string{"lint": "cached", "validate": "ran", "score": "ran", "sbom": "cached", "scan": "cached"}
	for s, w := range want {
		if got[s] != w {
			t.Errorf("manifest changed: %s %s, want %s", s, got[s], w)
		}
	}
	// tollgate.yaml changed: every stage counts as changed (and runs on a miss).
	p.edit("tollgate.yaml", "fail-on: HIGH", "fail-on: CRITICAL")
	if got = changed(); got["lint"] == "skipped" || got["validate"] == "skipped" {
		t.Errorf("config changed: %v, want nothing skipped", got)
	}
	if code, _, stderr := tollgate(t, "run", p.dir, "--changed", "no-such-rev", "--out", ""); code != 2 || !strings.Contains(stderr, "no-such-rev") {
		t.Errorf("bad revision: exit %d %s", code, stderr)
	}
}
