package manifest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func header(d Document) string {
	return fmt.Sprintf("%s|%d|%d|%d|%s|%s|%s|%s|%v", d.File, d.Index, d.Line, d.RawLine, d.APIVersion, d.Kind, d.Namespace, d.Name, d.Object["metadata"])
}

// Scan must read the same header a full decode reads, for every fixture in the repo.
func TestScanAgreesWithWalk(t *testing.T) {
	root := filepath.Join("..", "..", "fixtures")
	var paths []string
	for _, p := range []string{"manifests/good", "manifests/bad", "manifests/cr", "manifests/crds", "demo/k8s", "score"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			paths = append(paths, p)
		}
	}
	full, err := Load(context.Background(), paths, root)
	if err != nil {
		t.Fatal(err)
	}
	var scanned []Document
	if err := Scan(context.Background(), paths, root, func(d []Document) error { scanned = append(scanned, d...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(full) != len(scanned) || len(full) < 20 {
		t.Fatalf("Load found %d documents, Scan %d", len(full), len(scanned))
	}
	for i := range full {
		f := full[i]
		meta := map[string]any{}
		if md, ok := f.Object["metadata"].(map[string]any); ok {
			for _, k := range []string{"name", "namespace", "generateName"} {
				if v, ok := md[k]; ok {
					meta[k] = v
				}
			}
		}
		f.Object = map[string]any{"metadata": meta}
		s := scanned[i]
		if s.Object["metadata"] == nil {
			s.Object = map[string]any{"metadata": map[string]any{}}
		}
		if header(f) != header(s) || string(full[i].Raw) != string(scanned[i].Raw) {
			t.Errorf("document %d:\nfull %s\nscan %s", i, header(f), header(s))
		}
	}
}

func TestScanHeader(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string // "" when the scan must decline
	}{
		{"block", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # c\n  labels:\n    name: not-this\n  namespace: \"shop\"\nspec: {}\n", "apps/v1 Deployment shop/web"},
		{"flow metadata", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b, labels: {x: y}}\n", "v1 ConfigMap b/a"},
		{"flow metadata, nested name skipped", "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {name: fake, x: [a, b]}, name: real}\n", "v1 ConfigMap /real"},
		{"flow metadata, quoted", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"q\", namespace: 'n'}\n", "v1 ConfigMap n/q"},
		{"flow metadata, numeric name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 1}\n", ""},
		{"flow metadata, alias", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: *a}\n", ""},
		{"generateName", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: job-\n", "batch/v1 Job /job-"},
		{"no metadata", "apiVersion: v1\nkind: Namespace\n", "v1 Namespace /"},
		{"deep indentation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: s\ndata:\n  a: |\n    kind: Fake\n", "v1 ConfigMap /s"},
		{"secrets are decoded in full (to redact them)", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n", ""},
		{"numeric name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 123\n", ""},
		{"boolean name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yes\n", ""},
		{"anchor", "apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: a\n", ""},
		{"merge key in metadata", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  <<: *base\n", ""},
		{"flow document", "{apiVersion: v1, kind: ConfigMap}\n", ""},
		{"duplicate kind", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n", ""},
		{"escaped quote", "apiVersion: v1\nkind: \"Config\\u004dap\"\n", ""},
		{"multi-line flow value", "apiVersion: v1\nkind: ConfigMap\ndata: {a: b,\n  c: d}\n", ""},
		{"tab indentation", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n", ""},
		{"crd", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n", ""},
		{"list", "apiVersion: v1\nkind: List\nitems: []\n", ""},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", ""},
		{"sequence", "- a\n- b\n", ""},
		{"content on separator", "--- {apiVersion: v1, kind: ConfigMap}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := splitYAML([]byte(tt.doc), 1)
			if len(chunks) != 1 {
				t.Fatalf("%d chunks", len(chunks))
			}
			d, ok := scanHeader("f.yaml", chunks[0])
			got := ""
			if ok {
				got = fmt.Sprintf("%s %s %s/%s", d.APIVersion, d.Kind, d.Namespace, d.Name)
			}
			if got != tt.want {
				t.Errorf("scan = %q, want %q", got, tt.want)
			}
		})
	}
}

// Scan leaves syntax errors in the body of an ordinary document to its consumer, but still
// refuses what it must: Helm templates, scalar documents, documents without kind.
func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"body.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  a: [b\n",
		"helm.yaml":   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n",
		"scalar.yaml": "apiVersion: v1\nkind: ConfigMap\n---\njust text\n",
		"nokind.yaml": "apiVersion: v1\nmetadata: {name: a}\n",
	}
	for n, b := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644)
	}
	scan := func(p string) ([]Document, error) {
		var out []Document
		err := Scan(context.Background(), []string{p}, dir, func(d []Document) error { out = append(out, d...); return nil })
		return out, err
	}
	if d, err := scan("body.yaml"); err != nil || len(d) != 1 {
		t.Errorf("body error: %v %v (the consumer, kubeconform, reports it)", d, err)
	}
	if _, err := Load(context.Background(), []string{"body.yaml"}, dir); err == nil {
		t.Error("Load accepted a body syntax error")
	}
	for _, p := range []string{"helm.yaml", "scalar.yaml", "nokind.yaml"} {
		if _, err := scan(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
