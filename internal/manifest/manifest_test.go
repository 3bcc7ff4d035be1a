package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/model"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseDocuments(t *testing.T) {
	tests := []struct {
		name string
		file string
		body string
		want []string // Resource@index:line
	}{
		{"multi-document with comments and empty docs", "a.yaml", `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: ns}
---
# only a comment
---

---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: two
`, []string{"ConfigMap/ns/one@0:3", "Deployment/two@3:11"}},
		{"no leading separator", "b.yml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n",
			[]string{"Service/s@0:1", "Secret/x@1:6"}},
		{"List unwraps with item lines", "l.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b}
`, []string{"ConfigMap/a@0:4", "ConfigMap/b@0:7"}},
		{"typed list", "p.yaml", "apiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n", []string{"Pod/p@0:4"}},
		{"JSON object and JSON List", "j.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}
{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"k"}}]}`,
			[]string{"ConfigMap/j@0:1", "Secret/k@1:2"}},
		{"prometheus-style braces are not helm", "r.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\ndata:\n  msg: \"{{ $labels.instance }} down\"\n", []string{"ConfigMap/r@0:1"}},
		{"chart held in a ConfigMap is data", "c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  tpl: |\n    name: {{ .Release.Name }}\n", []string{"ConfigMap/c@0:1"}},
		{"empty file", "e.yaml", "\n# nothing\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse(tt.file, []byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, d.Resource()+"@"+itoa(d.Index)+":"+itoa(d.Line))
				if len(d.Raw) == 0 || d.Object == nil || d.File != tt.file {
					t.Errorf("%s: missing Raw/Object/File: %+v", d.Resource(), d)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseBadInput(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		body     string
		wantLine int
		wantMsg  string
	}{
		{"invalid YAML", "bad.yaml", "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n   bad: indent\n", 8, "document 2: invalid YAML"},
		{"helm template", "tpl.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n", 4, "Helm template"},
		{"quoted helm template", "tpl2.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: [{name: a, image: \"{{ .Values.image }}\"}]\n", 6, "Helm template"},
		{"unparseable braces", "br.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {{ $foo }}\n", 4, "`{{`"},
		{"scalar document", "s.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\njust a string\n", 5, "document 2 is a scalar"},
		{"sequence document", "q.yaml", "- a\n- b\n", 1, "document 1 is a sequence"},
		{"no kind", "k.yaml", "apiVersion: v1\nmetadata: {name: a}\n", 1, "has no kind"},
		{"no apiVersion nor kind", "k2.yaml", "foo: bar\n", 1, "has no apiVersion and kind"},
		{"kind not a string", "k3.yaml", "apiVersion: v1\nkind: [a]\n", 1, "kind must be a string"},
		{"duplicate key", "d.yaml", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n", 3, "defined twice in one mapping (first at line 2)"},
		{"binary", "bin.yaml", "apiVersion: v1\nkind: \x00\x01\x02", 2, "binary content"},
		{"invalid JSON", "x.json", "{\"apiVersion\": \"v1\",\n\"kind\": }", 2, "invalid JSON"},
		{"bad list item", "li.yaml", "apiVersion: v1\nkind: List\nitems:\n- 3\n", 1, "item 1 is a scalar"},
		{"list item without kind", "li2.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1}\n", 1, "has no kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, []byte(tt.body))
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want *model.InputError, got %T %v", err, err)
			}
			if ie.File != tt.file || ie.Line != tt.wantLine {
				t.Errorf("location %s:%d, want %s:%d (%v)", ie.File, ie.Line, tt.file, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestLoadDirectoryKustomizeAndLimits(t *testing.T) {
	root := t.TempDir()
	write(t, root, "k8s/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
	write(t, root, "k8s/sub/b.json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}`)
	write(t, root, "k8s/README.md", "not a manifest")
	write(t, root, "k8s/.hidden/c.yaml", "garbage: [")
	write(t, root, "k8s/app/kustomization.yaml", "namespace: prod\nnamePrefix: p-\nresources:\n- cm.yaml\n")
	write(t, root, "k8s/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\n")

	docs, err := Load(context.Background(), []string{"k8s"}, root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.File+"|"+d.Resource()+"|"+itoa(d.Line))
	}
	want := "k8s/a.yaml|ConfigMap/a|1,k8s/app/cm.yaml|ConfigMap/prod/p-k|1,k8s/sub/b.json|Secret/b|1"
	if strings.Join(got, ",") != want {
		t.Errorf("got  %v\nwant %v", strings.Join(got, ","), want)
	}

	// Naming the kustomization file renders its directory.
	docs, err = Load(context.Background(), []string{"k8s/app/kustomization.yaml"}, root)
	if err != nil || len(docs) != 1 || docs[0].Resource() != "ConfigMap/prod/p-k" || docs[0].File != "k8s/app/cm.yaml" || docs[0].Unit != "k8s/app" {
		t.Errorf("kustomization file: %v %v", docs, err)
	}

	// A kustomization that does not render is bad input naming the directory.
	write(t, root, "bad/kustomization.yaml", "resources:\n- missing.yaml\n")
	_, err = Load(context.Background(), []string{"bad"}, root)
	var ie *model.InputError
	if !errors.As(err, &ie) || ie.File != "bad/kustomization.yaml" {
		t.Errorf("bad kustomization: want InputError for bad, got %v", err)
	}

	// Missing path.
	_, err = Load(context.Background(), []string{"nope"}, root)
	if !errors.As(err, &ie) || ie.File != "nope" {
		t.Errorf("missing path: want InputError for nope, got %v", err)
	}

	// A file over the size limit is refused before it is read.
	big := filepath.Join(root, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(context.Background(), []string{"big.yaml"}, root)
	if !errors.As(err, &ie) || ie.File != "big.yaml" || !strings.Contains(err.Error(), "limit") {
		t.Errorf("big file: want InputError about the limit, got %v", err)
	}
}
