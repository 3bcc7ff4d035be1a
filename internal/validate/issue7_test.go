package validate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/validate"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Bug 2 of issue 7: a name YAML reads as a boolean (yes, no, on, off, y, n) is invalid to
// Kubernetes; validate reports it as bare kubeconform does, with the line, instead of failing
// with "a result for a document Tollgate did not hand over" (exit 3).
func TestBooleanLookingNames(t *testing.T) {
	for _, name := range []string{"yes", "no", "on", "off", "y", "n"} {
		t.Run(name, func(t *testing.T) {
			body := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata: {a: b}\n"
			dir := writeTree(t, map[string]string{"cm.yaml": body})
			code, r, stderr := tollgate(t, dir, "cm.yaml")
			got := findings(r)
			if code != 1 || strings.Join(got, ";") != "cm.yaml:8 K8S-SCHEMA" {
				t.Fatalf("exit %d, findings %v, want 1 with K8S-SCHEMA at cm.yaml:8\n%s", code, got, stderr)
			}
			// Bare kubeconform calls it invalid too (with the schemas the run above built).
			bare := exec.Command(kubeconformBin(t), "-strict", "-summary", "-kubernetes-version", "1.36.0", "-schema-location",
				filepath.Join(validate.SharedCacheDir(t), "schemas", "1.36.0")+"/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
				filepath.Join(dir, "cm.yaml"))
			if out, err := bare.CombinedOutput(); err == nil || !strings.Contains(string(out), "got boolean") {
				t.Errorf("bare kubeconform: %v %s; want it to call the name invalid", err, out)
			}
			f := r.Stages[0].Findings[0]
			if f.Resource != "ConfigMap/"+name || !strings.Contains(f.Message, "metadata.name") || !strings.Contains(f.Message, "quote the value") {
				t.Errorf("finding %+v, want the boolean name explained", f)
			}
		})
	}
}

func kubeconformBin(t *testing.T) string {
	t.Helper()
	p, err := (&tools.Installer{CacheDir: tools.DefaultCacheDir()}).Ensure(t.Context(), "kubeconform")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Bug 5 of issue 7: a duplicate key that kubeconform finds in a later document of a file is
// reported at the file's line, and the message counts lines the same way.
func TestDuplicateKeyLineInMultiDocument(t *testing.T) {
	body := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n  k: one\n  k: two\n"
	dir := writeTree(t, map[string]string{"dupkeys.yaml": body})
	code, r, stderr := tollgate(t, dir, "dupkeys.yaml")
	if code != 2 || r.Stages[0].ErrorKind != "input" {
		t.Fatalf("exit %d (%s), want 2: %s", code, r.Stages[0].Error, stderr)
	}
	if msg := r.Stages[0].Error; !strings.Contains(msg, "dupkeys.yaml:10:") || !strings.Contains(msg, "line 10") || strings.Contains(msg, "line 6") {
		t.Errorf("error %q, want dupkeys.yaml:10 and line 10 in the message (not the document's line 6)", msg)
	}
}

// Bug 7 of issue 7: a merge key with an override is decided once, in the shared loader, as
// kubectl does: accepted, merged, and validated as merged (kubeconform alone rejects it).
func TestMergeKeyWithOverride(t *testing.T) {
	body := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - &c
        name: a
        image: nginx:1.27
      - <<: *c
        name: b
        replica: 2
`
	dir := writeTree(t, map[string]string{"merge.yaml": body})
	code, r, stderr := tollgate(t, dir, "merge.yaml")
	// The merged second container is validated: its unknown field is found, at its line.
	if code != 1 || strings.Join(findings(r), ";") != "merge.yaml:15 K8S-UNKNOWN-FIELD" {
		t.Fatalf("exit %d, findings %v (%s), want the merged container's unknown field at merge.yaml:15", code, findings(r), stderr+r.Stages[0].Error)
	}
}

// Every document kubeconform cannot read is reported in one run, in every file.
func TestEveryUnreadableDocumentReported(t *testing.T) {
	dup := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata:\n  k: one\n  k: two\n"
	}
	dir := writeTree(t, map[string]string{"k8s/a.yaml": dup("a"), "k8s/b.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: ok}\n---\n" + dup("b"),
		"k8s/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
	code, r, _ := tollgate(t, dir, "k8s")
	msg := r.Stages[0].Error
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"k8s/c.yaml:3", "k8s/a.yaml:6", "k8s/b.yaml:10"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
}

// Removed APIs get the migration advice, not "add its CRD".
func TestRemovedAPIs(t *testing.T) {
	dir := writeTree(t, map[string]string{"old.yaml": `apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: old}
spec: {}
---
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: restricted}
spec: {}
`})
	code, r, _ := tollgate(t, dir, "old.yaml")
	var got []string
	for _, f := range r.Stages[0].Findings {
		got = append(got, fmt.Sprintf("%s:%d %s %s", f.File, f.Line, f.Rule, f.Message))
	}
	want := []string{
		"old.yaml:1 K8S-REMOVED-API extensions/v1beta1 Deployment: this API was removed in Kubernetes 1.16; use apps/v1 Deployment",
		"old.yaml:6 K8S-REMOVED-API policy/v1beta1 PodSecurityPolicy: this API was removed in Kubernetes 1.25 and has no direct replacement",
	}
	if code != 1 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exit %d, findings\n%s\nwant\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A directory walk skips what is not Kubernetes with one note each (never blocking), and a
// Helm chart that helm cannot render here is a note with the reason, not an error.
func TestWalkNotes(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"k8s/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"k8s/docker-compose.yml": "services: {web: {image: nginx}}\n",
		"k8s/skaffold.yaml":      "apiVersion: skaffold/v4beta11\nkind: Config\n",
		"k8s/.gitlab-ci.yml":     "stages: [x]\n", // hidden: never walked
		// A chart whose dependencies are not vendored: helm cannot render it offline.
		"k8s/chart/Chart.yaml":       "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n- {name: redis, version: 1.0.0, repository: https://charts.example.com}\n",
		"k8s/chart/templates/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
	})
	code, r, stderr := tollgate(t, dir, "k8s", "--fail-on", "INFO")
	var got []string
	for _, f := range r.Stages[0].Findings {
		got = append(got, fmt.Sprintf("%s:%d %s %s", f.File, f.Line, f.Rule, f.Severity))
		if !strings.HasPrefix(f.Message, "not checked: ") {
			t.Errorf("note message %q", f.Message)
		}
	}
	want := "k8s/chart/Chart.yaml:1 K8S-NOT-CHECKED INFO;k8s/docker-compose.yml:1 K8S-NOT-CHECKED INFO;k8s/skaffold.yaml:1 K8S-NOT-CHECKED INFO"
	if code != 0 || strings.Join(got, ";") != want {
		t.Errorf("exit %d (notes must not block, even at --fail-on INFO), findings %v, want %s\n%s", code, got, want, stderr)
	}
	for _, f := range r.Stages[0].Findings {
		if f.File == "k8s/chart/Chart.yaml" && !strings.Contains(f.Message, "helm") {
			t.Errorf("chart note without the helm reason: %s", f.Message)
		}
	}
}
