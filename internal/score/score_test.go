package score

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

const (
	high   = model.SeverityHigh
	medium = model.SeverityMedium
)

// TestFixtureSets proves each covered control both ways: every bad-* set breaks the good set in
// one way, so exactly its checks fire, at the mapped severity, and the gate fails (or passes, for
// a WARNING below the default HIGH threshold); the good set has no finding at all.
func TestFixtureSets(t *testing.T) {
	cases := []struct {
		set    string
		want   map[string]model.Severity
		status model.Status
	}{
		{"good", map[string]model.Severity{}, model.StatusPass},
		{"bad-run-as-root", map[string]model.Severity{"container-security-context-user-group-id": high}, model.StatusFail},
		{"bad-writable-root-fs", map[string]model.Severity{"container-security-context-readonlyrootfilesystem": high}, model.StatusFail},
		{"bad-privileged", map[string]model.Severity{"container-security-context-privileged": high}, model.StatusFail},
		{"bad-no-seccomp", map[string]model.Severity{"container-seccomp-profile": medium}, model.StatusPass},
		{"bad-no-resources", map[string]model.Severity{"container-resources": high, "container-ephemeral-storage-request-and-limit": high}, model.StatusFail},
		{"bad-no-probes", map[string]model.Severity{"pod-probes": high}, model.StatusFail},
		{"bad-identical-probes", map[string]model.Severity{"pod-probes-identical": high}, model.StatusFail},
		{"bad-no-networkpolicy", map[string]model.Severity{"pod-networkpolicy": high}, model.StatusFail},
		{"bad-networkpolicy-mismatch", map[string]model.Severity{"pod-networkpolicy": high, "networkpolicy-targets-pod": high}, model.StatusFail},
		{"bad-latest-tag", map[string]model.Severity{"container-image-tag": high}, model.StatusFail},
		{"bad-pull-policy", map[string]model.Severity{"container-image-pull-policy": high}, model.StatusFail},
	}
	// Every fixture set on disk is covered here, so a new set cannot go untested.
	entries, err := os.ReadDir(fixturesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{"ignore-annotation": true} // TestIgnoreAnnotation
	for _, c := range cases {
		covered[c.set] = true
	}
	for _, e := range entries {
		if e.IsDir() && !covered[e.Name()] {
			t.Errorf("fixture set %s has no test case", e.Name())
		}
	}

	cfg := config.Default()
	for _, c := range cases {
		t.Run(c.set, func(t *testing.T) {
			t.Parallel()
			docs := load(t, c.set)
			res := scoreSet(t, cfg, c.set)
			if got := ruleIDs(res.Findings); !maps.Equal(got, c.want) {
				t.Errorf("findings = %v, want %v\n%v", got, c.want, res.Findings)
			}
			for _, f := range res.Findings {
				if f.Location.File != filepath.Join(c.set, "app.yaml") || f.Location.Line <= 0 || f.Location.Resource == "" {
					t.Errorf("%s: location %+v, want the fixture file, a line and a resource", f.RuleID, f.Location)
				}
				if !slices.ContainsFunc(docs, func(d manifest.Document) bool {
					return d.File == f.Location.File && d.Line == f.Location.Line && d.Resource() == f.Location.Resource
				}) {
					t.Errorf("%s: location %+v is not the line and resource of a loaded document", f.RuleID, f.Location)
				}
				if f.Title == "" || f.Message == "" || f.Fix == "" || f.Stage != Name {
					t.Errorf("%s: want stage, title, message and fix: %+v", f.RuleID, f)
				}
			}
			if res.Tool.Name != "kube-score" || res.Tool.Version != "v1.20.0" {
				t.Errorf("tool = %+v", res.Tool)
			}
			// Rules describe every check that ran, including the passing ones.
			ids := make([]string, 0, len(res.Rules))
			for _, r := range res.Rules {
				ids = append(ids, r.ID)
			}
			for _, id := range []string{"container-security-context-user-group-id", "container-security-context-readonlyrootfilesystem",
				"container-security-context-privileged", "container-seccomp-profile", "container-resources", "pod-probes",
				"pod-networkpolicy", "container-image-tag", "container-image-pull-policy"} {
				if !slices.Contains(ids, id) {
					t.Errorf("rules lack %s: %v", id, ids)
				}
			}
			if slices.Contains(ids, "container-ports-check") {
				t.Errorf("rules list the optional container-ports-check, which did not run")
			}
			gate.Apply(res, cfg, time.Now())
			if res.Status != c.status {
				t.Errorf("status = %s (%s), want %s", res.Status, res.Summary, c.status)
			}
		})
	}
}

// TestFindingLocation pins the mapping back to the user's file for a finding on the second
// document of a file.
func TestFindingLocation(t *testing.T) {
	docs := load(t, "bad-networkpolicy-mismatch")
	var np manifest.Document
	for _, d := range docs {
		if d.Kind == "NetworkPolicy" {
			np = d
		}
	}
	res := scoreSet(t, config.Default(), "bad-networkpolicy-mismatch")
	for _, f := range res.Findings {
		if f.RuleID != "networkpolicy-targets-pod" {
			continue
		}
		if f.Location.Resource != "NetworkPolicy/shop/web" || f.Location.Line != np.Line || np.Line < 80 {
			t.Fatalf("location = %+v, want NetworkPolicy/shop/web at line %d", f.Location, np.Line)
		}
		if !strings.Contains(f.Message, "selector doesn't match any pods") {
			t.Fatalf("message = %q, want kube-score's comment", f.Message)
		}
		return
	}
	t.Fatalf("no networkpolicy-targets-pod finding: %v", res.Findings)
}

// TestSeverityConfig: the grade-to-severity mapping and per-check overrides come from tollgate.yaml.
func TestSeverityConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Score.Critical = model.SeverityCritical
	cfg.Score.Warning = model.SeverityHigh
	cfg.Score.Checks = map[string]model.Severity{"container-image-tag": model.SeverityLow}

	res := scoreSet(t, cfg, "bad-privileged")
	if got := ruleIDs(res.Findings); got["container-security-context-privileged"] != model.SeverityCritical {
		t.Errorf("critical mapped to %v, want CRITICAL", got)
	}
	res = scoreSet(t, cfg, "bad-no-seccomp")
	gate.Apply(res, cfg, time.Now())
	if got := ruleIDs(res.Findings); got["container-seccomp-profile"] != model.SeverityHigh || res.Status != model.StatusFail {
		t.Errorf("warning mapped to %v (status %s), want HIGH and a failed gate", got, res.Status)
	}
	res = scoreSet(t, cfg, "bad-latest-tag")
	gate.Apply(res, cfg, time.Now())
	if got := ruleIDs(res.Findings); got["container-image-tag"] != model.SeverityLow || res.Status != model.StatusPass {
		t.Errorf("override gave %v (status %s), want LOW and a passing gate", got, res.Status)
	}
	for _, r := range res.Rules {
		if r.ID == "container-image-tag" && r.Severity != model.SeverityLow {
			t.Errorf("rule severity = %s, want the override LOW", r.Severity)
		}
	}
}

// TestIgnoreAnnotation: kube-score's own kube-score/ignore annotation keeps working; the finding
// stays in the report, suppressed, and does not fail the gate. The same manifest without the
// annotation fails.
func TestIgnoreAnnotation(t *testing.T) {
	cfg := config.Default()
	res := scoreSet(t, cfg, "ignore-annotation")
	gate.Apply(res, cfg, time.Now())
	if res.Status != model.StatusPass {
		t.Fatalf("status = %s (%s), want pass", res.Status, res.Summary)
	}
	if len(res.Findings) != 1 {
		t.Fatalf("findings = %v, want the one suppressed by the annotation", res.Findings)
	}
	f := res.Findings[0]
	if f.RuleID != "container-security-context-readonlyrootfilesystem" || f.Suppression == nil || f.Suppression.Kind != "annotation" ||
		!strings.Contains(f.Suppression.Reason, "Deployment/shop/web") {
		t.Fatalf("finding = %+v, want readonlyrootfilesystem suppressed by the annotation", f)
	}
	res = scoreSet(t, cfg, "bad-writable-root-fs")
	gate.Apply(res, cfg, time.Now())
	if res.Status != model.StatusFail {
		t.Fatalf("without the annotation: status = %s, want fail", res.Status)
	}
}

// TestIgnoreList: tollgate.yaml ignore entries silence a kube-score check until they expire.
func TestIgnoreList(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	day := func(s string) config.Date {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return config.Date{Time: d}
	}
	cases := []struct {
		name   string
		ignore config.Ignore
		status model.Status
	}{
		{"live", config.Ignore{ID: "container-image-tag", Stage: "score", Reason: "pinned by digest at deploy", Expires: day("2026-12-31")}, model.StatusPass},
		{"expires today", config.Ignore{ID: "container-image-tag", Reason: "r", Expires: day("2026-11-27")}, model.StatusPass},
		{"expired", config.Ignore{ID: "container-image-tag", Reason: "r", Expires: day("2026-11-26")}, model.StatusFail},
		{"matching resource", config.Ignore{ID: "container-image-tag", Resource: "Deployment/shop/web", Reason: "r"}, model.StatusPass},
		{"other resource", config.Ignore{ID: "container-image-tag", Resource: "Deployment/shop/api", Reason: "r"}, model.StatusFail},
		{"matching path", config.Ignore{ID: "container-image-tag", Path: "bad-latest-tag/*.yaml", Reason: "r"}, model.StatusPass},
		{"other check", config.Ignore{ID: "container-image-pull-policy", Reason: "r"}, model.StatusFail},
		{"other stage", config.Ignore{ID: "container-image-tag", Stage: "validate", Reason: "r"}, model.StatusFail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Ignore = []config.Ignore{c.ignore}
			res := scoreSet(t, cfg, "bad-latest-tag")
			gate.Apply(res, cfg, now)
			if res.Status != c.status {
				t.Fatalf("status = %s (%s), want %s", res.Status, res.Summary, c.status)
			}
		})
	}
}

// TestIgnoreChecks: score.ignore-checks turns a check off in kube-score itself.
func TestIgnoreChecks(t *testing.T) {
	cfg := config.Default()
	cfg.Score.IgnoreChecks = []string{"container-image-tag", "container-seccomp-profile"}
	res := scoreSet(t, cfg, "bad-latest-tag")
	gate.Apply(res, cfg, time.Now())
	if len(res.Findings) != 0 || res.Status != model.StatusPass {
		t.Fatalf("findings = %v (status %s), want none", res.Findings, res.Status)
	}
	for _, r := range res.Rules {
		if r.ID == "container-image-tag" || r.ID == "container-seccomp-profile" {
			t.Errorf("ignored check %s is listed as a rule", r.ID)
		}
	}
	// An ignored optional check stays off even though Tollgate enables it by default.
	res = scoreSet(t, cfg, "bad-no-seccomp")
	if len(res.Findings) != 0 {
		t.Fatalf("findings = %v, want none", res.Findings)
	}
}

// TestEnableChecks: score.enable-checks turns on more optional kube-score checks.
func TestEnableChecks(t *testing.T) {
	cfg := config.Default()
	cfg.Score.EnableChecks = []string{"container-resource-requests-equal-limits"}
	res := scoreSet(t, cfg, "good")
	if got := ruleIDs(res.Findings); got["container-resource-requests-equal-limits"] != high || len(got) != 1 {
		t.Fatalf("findings = %v, want container-resource-requests-equal-limits (the good set's requests are below its limits)", got)
	}
}

// TestBadOptions: typos in check IDs and a bad Kubernetes version are input errors naming the config.
func TestBadOptions(t *testing.T) {
	cases := map[string]func(c *config.Config){
		"unknown severity override": func(c *config.Config) { c.Score.Checks = map[string]model.Severity{"container-image-tags": high} },
		"unknown ignored check":     func(c *config.Config) { c.Score.IgnoreChecks = []string{"no-such-check"} },
		"unknown enabled check":     func(c *config.Config) { c.Score.EnableChecks = []string{"no-such-check"} },
		"enable a default check":    func(c *config.Config) { c.Score.EnableChecks = []string{"container-image-tag"} },
		"kubernetes version":        func(c *config.Config) { c.Validate.KubernetesVersion = "latest" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Path = "tollgate.yaml"
			mut(cfg)
			_, err := Runner{Binary: "/nonexistent"}.Score(context.Background(), OptionsFrom(cfg), nil)
			var ie *model.InputError
			if !errors.As(err, &ie) || ie.File != "tollgate.yaml" {
				t.Fatalf("err = %v, want an input error naming tollgate.yaml", err)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	o := Options{IgnoreChecks: []string{"pod-probes", "container-image-tag", "pod-probes"}, EnableChecks: []string{"container-ports-check"},
		KubernetesVersion: "1.31.2"}
	got, err := Args(o, []string{"/in/doc-00001.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"score", "--output-format", "json", "--output-version", "v2", "--color", "never", "--kubernetes-version", "v1.31",
		"--enable-optional-test", "container-ports-check", "--enable-optional-test", "container-seccomp-profile",
		"--ignore-test", "container-image-tag", "--ignore-test", "pod-probes", "/in/doc-00001.yaml"}
	if !slices.Equal(got, want) {
		t.Fatalf("args =\n%q\nwant\n%q", got, want)
	}
	if _, err := Args(o, []string{"--help"}); err == nil {
		t.Fatal("a file name like a flag must be refused")
	}
	for in, want := range map[string]string{"": "v1.36", "1.36.0": "v1.36", "v1.29": "v1.29", "1.30": "v1.30"} {
		if got, err := kubeVersion(in); err != nil || got != want {
			t.Errorf("kubeVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"1", "1.x", "one.two.three", "1.2.3.4"} {
		if _, err := kubeVersion(in); err == nil {
			t.Errorf("kubeVersion(%q) accepted", in)
		}
	}
}

// TestCheckTable: Tollgate's table of checks (fix hints, which are optional) matches the pinned
// kube-score's own list, so a version bump that adds or changes checks shows up here.
func TestCheckTable(t *testing.T) {
	out, err := exec.Command(kubeScore(t), "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range rows {
		if len(r) != 4 {
			t.Fatalf("kube-score list row %q", r)
		}
		listed[r[0]] = true
		c, ok := lookupCheck(r[0])
		if !ok {
			t.Errorf("kube-score check %s is not in the check table", r[0])
			continue
		}
		if c.Optional != (r[3] == "optional") {
			t.Errorf("%s: optional = %v, kube-score says %s", r[0], c.Optional, r[3])
		}
		if c.Fix == "" || c.Name == "" {
			t.Errorf("%s: no name or fix hint", r[0])
		}
	}
	for _, id := range KnownChecks() {
		if !listed[id] {
			t.Errorf("check table has %s, which kube-score does not list", id)
		}
	}
	for _, id := range DefaultOptionalChecks() {
		if c, _ := lookupCheck(id); !c.Optional {
			t.Errorf("default optional check %s is not optional", id)
		}
	}
}
