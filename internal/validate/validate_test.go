package validate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func run1(t *testing.T, root string, paths, crdPaths []string, opts Options) *model.StageResult {
	t.Helper()
	docs, err := manifest.Load(context.Background(), paths, root)
	if err != nil {
		t.Fatalf("load %v: %v", paths, err)
	}
	var crds []manifest.Document
	if len(crdPaths) > 0 {
		if crds, err = manifest.Load(context.Background(), crdPaths, root); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Validate(context.Background(), docs, crds, builtinSchemas(t), opts)
	if err != nil {
		t.Fatalf("validate %v: %v", paths, err)
	}
	// The kubeconform binary on batch files (the Dagger module's way) finds exactly the same.
	bin, err := ValidateBinary(context.Background(), kubeconform(t), docs, crds, builtinSchemas(t), opts)
	if err != nil {
		t.Fatalf("validate %v with the binary: %v", paths, err)
	}
	if a, b := fmt.Sprintf("%+v", res.Findings), fmt.Sprintf("%+v", bin.Findings); a != b {
		t.Errorf("in process and the binary disagree on %v:\nin process: %s\nbinary:     %s", paths, a, b)
	}
	return res
}

var expectRe = regexp.MustCompile(`# expect: ([A-Z0-9-]+)`)

// expectations reads the `# expect: RULE` marks of a fixture as "file:line RULE".
func expectations(t *testing.T, root, rel string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		for _, m := range expectRe.FindAllStringSubmatch(sc.Text(), -1) {
			out = append(out, fmt.Sprintf("%s:%d %s", rel, n, m[1]))
		}
	}
	sort.Strings(out)
	return out
}

func summarize(fs []model.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s:%d %s", f.Location.File, f.Location.Line, f.RuleID))
	}
	sort.Strings(out)
	return out
}

func TestGoodManifestsPass(t *testing.T) {
	root := fixtures(t)
	res := run1(t, root, []string{"good", "cr"}, []string{"crds"}, defaultOptions())
	if len(res.Findings) != 0 {
		for _, f := range res.Findings {
			t.Errorf("unexpected finding %s %s:%d %s: %s", f.RuleID, f.Location.File, f.Location.Line, f.Location.Resource, f.Message)
		}
	}
}

func TestBadManifestsFail(t *testing.T) {
	root := fixtures(t)
	entries, err := os.ReadDir(filepath.Join(root, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !manifest.IsManifestFile(e.Name()) {
			continue
		}
		rel := "bad/" + e.Name()
		t.Run(e.Name(), func(t *testing.T) {
			want := expectations(t, root, rel)
			if len(want) == 0 {
				t.Fatalf("%s has no # expect: marks", rel)
			}
			res := run1(t, root, []string{rel}, nil, defaultOptions())
			got := summarize(res.Findings)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				for _, f := range res.Findings {
					t.Logf("%s %s:%d %s: %s", f.RuleID, f.Location.File, f.Location.Line, f.Location.Resource, f.Message)
				}
			}
			for _, f := range res.Findings {
				if f.Location.Resource == "" || f.Extra["document"] == "" || f.Message == "" {
					t.Errorf("finding lacks resource/document/message: %+v", f)
				}
			}
		})
	}
}

// Documents are handed to kubeconform in batches and its results mapped back by kind,
// apiVersion and name: same-named objects, generateName and non-string names must each land
// on their own document.
func TestResultsMapToTheirDocument(t *testing.T) {
	dir := t.TempDir()
	body := `apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: a}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: b}
binaryData: {k: 1}
---
apiVersion: batch/v1
kind: Job
metadata: {generateName: job-}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: i}]
  parallelism: many
---
apiVersion: v1
kind: ConfigMap
metadata: {name: 123}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: c}
`
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run1(t, dir, []string{"m.yaml"}, nil, defaultOptions())
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%d %s %s", f.Location.Line, f.Location.Resource, f.Extra["document"]))
	}
	want := []string{"9 ConfigMap/b/x 2", "19 Job/job- 3", "23 ConfigMap/123 4"} // documents count from 1
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A CRD that cannot become a schema is a finding on the CRD (its custom resources then have no
// schema), never a silent skip.
func TestUnusableCRD(t *testing.T) {
	dir := t.TempDir()
	body := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: example.com/v1
kind: Thing
metadata: {name: t}
`
	if err := os.WriteFile(filepath.Join(dir, "crd.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run1(t, dir, []string{"crd.yaml"}, nil, defaultOptions())
	got := strings.Join(summarize(res.Findings), ";")
	if got != "crd.yaml:1 K8S-CRD-SCHEMA;crd.yaml:4 K8S-SCHEMA;crd.yaml:9 K8S-NO-SCHEMA" {
		t.Errorf("findings %s", got)
	}
}
