package validate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/validate"
)

type cliReport struct {
	ExitCode int `json:"exit_code"`
	Stages   []struct {
		Stage     string `json:"stage"`
		Status    string `json:"status"`
		ErrorKind string `json:"error_kind"`
		Error     string `json:"error"`
		Findings  []struct {
			Rule     string            `json:"rule"`
			Severity string            `json:"severity"`
			Message  string            `json:"message"`
			File     string            `json:"file"`
			Line     int               `json:"line"`
			Resource string            `json:"resource"`
			Extra    map[string]string `json:"extra"`
		} `json:"findings"`
	} `json:"stages"`
}

// tollgate runs `tollgate validate` in-process, as a user would, with JSON output.
func tollgate(t *testing.T, dir string, args ...string) (int, cliReport, string) {
	t.Helper()
	full := append([]string{"validate", "-C", dir, "--format", "json", "--out", "", "--progress", "none",
		"--no-install", "--cache-dir", validate.SharedCacheDir(t)}, args...)
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), full, &out, &errb)
	var r cliReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("tollgate %v: exit %d, stdout is not the JSON report (%v):\n%s\nstderr: %s", args, code, err, out.String(), errb.String())
	}
	if r.ExitCode != code || len(r.Stages) != 1 || r.Stages[0].Stage != validate.Name {
		t.Fatalf("tollgate %v: report %+v does not match exit code %d", args, r, code)
	}
	return code, r, errb.String()
}

func findings(r cliReport) []string {
	var out []string
	for _, f := range r.Stages[0].Findings {
		out = append(out, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Rule))
	}
	sort.Strings(out)
	return out
}

// Every failure mode, both ways: the bad fixture fails (exit 1) with exactly the marked findings,
// and the good fixtures, which contain the same constructs written correctly, pass (exit 0).
func TestCLIFailureModes(t *testing.T) {
	root := validate.Fixtures(t)
	entries, err := os.ReadDir(filepath.Join(root, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		n++
		rel := "bad/" + e.Name()
		t.Run(e.Name(), func(t *testing.T) {
			code, r, stderr := tollgate(t, root, rel)
			want := validate.Expectations(t, root, rel)
			if code != 1 || r.Stages[0].Status != "fail" {
				t.Errorf("exit %d status %s, want 1 fail; stderr %s", code, r.Stages[0].Status, stderr)
			}
			if got := findings(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, f := range r.Stages[0].Findings {
				if f.Resource == "" || f.Extra["document"] == "" || f.Line == 0 {
					t.Errorf("finding without resource, document or line: %+v", f)
				}
			}
		})
	}
	if n < 6 {
		t.Fatalf("only %d bad fixtures", n)
	}
	code, r, stderr := tollgate(t, root, "good", "cr", "--crds", "crds")
	if code != 0 || len(r.Stages[0].Findings) != 0 {
		t.Errorf("good fixtures: exit %d, findings %v; stderr %s", code, findings(r), stderr)
	}
}

func TestCLIOptions(t *testing.T) {
	root := validate.Fixtures(t)
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A project whose tollgate.yaml points validate at a CRD dir and lowers the severity of
	// missing schemas.
	write("crds/backup.yaml", mustRead(t, filepath.Join(root, "crds", "backup-crd.yaml")))
	write("k8s/backup.yaml", mustRead(t, filepath.Join(root, "cr", "backup.yaml")))
	write("k8s/probe.yaml", mustRead(t, filepath.Join(root, "bad", "missing-crd.yaml")))
	write("tollgate.yaml", "version: 1\nvalidate:\n  crds: [crds]\n  missing-schema-severity: LOW\n")
	// A user schema dir in kubeconform's layout, relative to the project: it supplies the Probe
	// schema that no CRD provides.
	write("my-schemas/v1.36.0-standalone-strict/probe-monitoring-v1.json",
		`{"type": "object", "additionalProperties": false, "required": ["spec"], "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}, "spec": {"type": "object", "properties": {"target": {"type": "integer"}}}}}`)
	tests := []struct {
		name      string
		dir       string
		args      []string
		wantCode  int
		wantRules string
	}{
		{"custom resource without its CRD has no schema", root, []string{"cr"}, 1, "K8S-NO-SCHEMA"},
		{"custom resource validated by a CRD from --crds", root, []string{"cr", "--crds", "crds"}, 0, ""},
		{"crds path and missing-schema severity from tollgate.yaml", dir, nil, 0, "K8S-NO-SCHEMA"},
		{"missing-schema severity applies to the gate", dir, []string{"--fail-on", "LOW"}, 1, "K8S-NO-SCHEMA"},
		{"user schema location", dir, []string{"k8s/probe.yaml", "--schema-location", "my-schemas"}, 1, "K8S-SCHEMA"},
		{"bad kubernetes version", root, []string{"good", "--kubernetes-version", "latest"}, 2, ""},
		{"strict off accepts unknown fields", root, []string{"bad/unknown-field.yaml", "--strict=false"}, 0, ""},
		{"strict on by default", root, []string{"bad/unknown-field.yaml"}, 1, "K8S-UNKNOWN-FIELD"},
		{"another kubernetes version", root, []string{"bad/unknown-field.yaml", "--kubernetes-version", "1.36.0"}, 1, "K8S-UNKNOWN-FIELD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, stderr := tollgate(t, tt.dir, tt.args...)
			var rules []string
			for _, f := range r.Stages[0].Findings {
				rules = append(rules, f.Rule)
			}
			if code != tt.wantCode || strings.Join(rules, ",") != tt.wantRules {
				t.Errorf("exit %d rules %v, want %d %q; stderr %s", code, rules, tt.wantCode, tt.wantRules, stderr)
			}
		})
	}
}

// Garbage is bad input (exit 2) with an error naming the file, the line and the document:
// never a panic, a hang, or a schema finding.
func TestCLIGarbage(t *testing.T) {
	root := validate.Fixtures(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	// 50 MB of real YAML (not a sparse file), so a reader that ignored the limit would hang here.
	var b bytes.Buffer
	for i := 0; b.Len() < 50<<20; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\ndata: {k: %s}\n", i, strings.Repeat("x", 200))
	}
	if err := os.WriteFile(big, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "binary.yaml"), []byte("apiVersion: v1\n\x00\x01\x02\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A syntax error past the header: Tollgate's scan leaves it to kubeconform, whose
	// "statusError" must still come out as bad input at the right line.
	body := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n# second\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: b\n  c: d: e\n"
	if err := os.WriteFile(filepath.Join(dir, "body.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, arg string
		want           []string
	}{
		{"invalid YAML past the header", dir, "body.yaml", []string{"body.yaml:12:", "document 2", "ConfigMap/broken", "invalid YAML"}},
		{"invalid YAML", root, "garbage/invalid.yaml", []string{"garbage/invalid.yaml:9:", "document 2", "invalid YAML"}},
		{"helm template", root, "garbage/helm.yaml", []string{"garbage/helm.yaml:4:", "document 1", "Helm template", "helm template"}},
		{"scalar document", root, "garbage/scalar.yaml", []string{"garbage/scalar.yaml:5:", "document 2 is a scalar"}},
		{"50 MB file", dir, "big.yaml", []string{"big.yaml:", "over the 20 MB limit"}},
		{"binary file", dir, "binary.yaml", []string{"binary.yaml:2:", "binary content"}},
		{"missing path", root, "nope", []string{"nope:", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, stderr := tollgate(t, tt.dir, tt.arg)
			if code != 2 || r.Stages[0].ErrorKind != "input" {
				t.Errorf("exit %d kind %q, want 2 input; stderr %s", code, r.Stages[0].ErrorKind, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stages[0].Error, w) {
					t.Errorf("error %q lacks %q", r.Stages[0].Error, w)
				}
			}
		})
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every input form reports its findings at the right place: JSON files and List items with
// their lines, a kustomization directory by its directory and rendered resource name.
func TestCLIInputForms(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"app.json":                "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Service\",\n\t\"metadata\": {\"name\": \"svc\"},\n\t\"spec\": {\n\t\t\"ports\": [{\"port\": \"http\"}]\n\t}\n}\n",
		"list.yaml":               "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ok}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n  strinData: {a: b}\n",
		"kust/kustomization.yaml": "namespace: prod\nnamePrefix: p-\nresources:\n- cm.yaml\n",
		"kust/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\nbinaryData: {x: 1}\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		arg  string
		want string // file:line rule resource
	}{
		{"app.json", "app.json:6 K8S-SCHEMA Service/svc"},
		{"list.yaml", "list.yaml:7 K8S-UNKNOWN-FIELD Secret/s"},
		{"kust", "kust/cm.yaml:1 K8S-SCHEMA ConfigMap/prod/p-cfg"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			code, r, stderr := tollgate(t, dir, tt.arg)
			var got []string
			for _, f := range r.Stages[0].Findings {
				got = append(got, fmt.Sprintf("%s:%d %s %s", f.File, f.Line, f.Rule, f.Resource))
			}
			if code != 1 || strings.Join(got, ";") != tt.want {
				t.Errorf("exit %d findings %v, want 1 [%s]; stderr %s", code, got, tt.want, stderr)
			}
		})
	}
	// The same three, fixed, pass.
	fixed := map[string]string{
		"app.json":     strings.Replace(files["app.json"], `"port": "http"`, `"port": 80`, 1),
		"list.yaml":    strings.Replace(files["list.yaml"], "strinData", "stringData", 1),
		"kust/cm.yaml": strings.Replace(files["kust/cm.yaml"], "{x: 1}", "{x: AQ==}", 1),
	}
	for name, body := range fixed {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, r, stderr := tollgate(t, dir, "app.json", "list.yaml", "kust"); code != 0 {
		t.Errorf("fixed inputs: exit %d findings %v; stderr %s", code, findings(r), stderr)
	}
}

// An air-gapped machine brings a schema dir built elsewhere (`tollgate schemas build`) and names
// it as a schema location: it is used as the built-in schemas, and nothing is built or fetched.
func TestCLIPrebuiltSchemaDir(t *testing.T) {
	shared := validate.SharedCacheDir(t)
	cache := t.TempDir()
	if err := os.Symlink(filepath.Join(shared, "tools"), filepath.Join(cache, "tools")); err != nil {
		t.Fatal(err)
	}
	prebuilt := filepath.Join(t.TempDir(), "k8s-schemas")
	if err := os.Symlink(filepath.Join(shared, "schemas", "1.36.0"), prebuilt); err != nil {
		t.Fatal(err)
	}
	root := validate.Fixtures(t)
	for _, tt := range []struct {
		arg  string
		code int
	}{{"bad/unknown-field.yaml", 1}, {"good", 0}} {
		code, r, stderr := tollgate(t, root, tt.arg, "--cache-dir", cache, "--schema-location", prebuilt)
		if code != tt.code {
			t.Errorf("%s: exit %d findings %v, want %d; stderr %s", tt.arg, code, findings(r), tt.code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "schemas")); !os.IsNotExist(err) {
		t.Errorf("schemas were built although a pre-built dir was given: %v", err)
	}
}
