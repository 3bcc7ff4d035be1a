package score

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// scoreBoth scores docs twice: every input written by Tollgate (Root ""), and project files
// handed over as they are (Root set). It returns both results and kube-score's arguments of
// the second run.
func scoreBoth(t *testing.T, root string, docs []manifest.Document) (written, asIs *model.StageResult, args string) {
	t.Helper()
	o := OptionsFrom(config.Default())
	var err error
	if written, err = (Runner{Binary: kubeScore(t)}).Score(context.Background(), o, docs); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(t.TempDir(), "args")
	wrapper := filepath.Join(t.TempDir(), "kube-score")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + capture + "\nexec " + kubeScore(t) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if asIs, err = (Runner{Binary: wrapper, Root: root}).Score(context.Background(), o, docs); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(capture)
	return written, asIs, string(b)
}

// TestProjectFilesPassedAsTheyAre checks that handing project files to kube-score as they are
// (no file written per document) finds exactly what writing every input finds, at the same
// file and line, for every fixture set.
func TestProjectFilesPassedAsTheyAre(t *testing.T) {
	root := fixturesDir(t)
	sets, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		t.Run(set.Name(), func(t *testing.T) {
			docs := load(t, set.Name())
			written, asIs, args := scoreBoth(t, root, docs)
			if !reflect.DeepEqual(written.Findings, asIs.Findings) {
				t.Errorf("findings differ:\nwritten: %+v\nas is:   %+v", written.Findings, asIs.Findings)
			}
			if !strings.Contains(args, filepath.Join(root, set.Name())) {
				t.Errorf("no project file was passed as it is:\n%s", args)
			}
		})
	}
}

// TestMultiDocumentFilesMapToTheirLines scores a file of several documents passed as it is:
// every finding names the document's own line. Files kube-score would split differently, or
// that hold what kube-score must not see, are written instead, with the same findings.
func TestMultiDocumentFilesMapToTheirLines(t *testing.T) {
	root := t.TempDir()
	deploy := func(name, image string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: shop}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers:
      - name: app
        image: ` + image + `
`
	}
	files := map[string]string{
		// Passed as it is: three documents, a leading separator and a comment-only chunk.
		"k8s/apps.yaml": "---\n# the shop\n---\n" + deploy("web", "shop/web:latest") + "---\n" + deploy("api", "shop/api:latest") + "---\n" + deploy("db", "shop/db:1.0"),
		// CRLF line ends: kube-score counts lines the same way.
		"k8s/crlf.yaml": strings.ReplaceAll(deploy("crlf", "shop/crlf:latest"), "\n", "\r\n"),
		// Written: a separator kube-score does not split at.
		"k8s/comment-sep.yaml": deploy("one", "shop/one:latest") + "--- # next\n" + deploy("two", "shop/two:latest"),
		// Written: a ConfigMap kube-score must not get beside the Deployment.
		"k8s/mixed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: shop}\ndata: {a: b}\n---\n" + deploy("mixed", "shop/mixed:latest"),
		// Written: a Helm-style comment kube-score would report as the file name.
		"k8s/helm.yaml": "# Source: chart/templates/deploy.yaml\n" + deploy("helm", "shop/helm:latest"),
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := manifest.Load(context.Background(), []string{"k8s"}, root)
	if err != nil {
		t.Fatal(err)
	}
	written, asIs, args := scoreBoth(t, root, docs)
	if !reflect.DeepEqual(written.Findings, asIs.Findings) {
		t.Fatalf("findings differ:\nwritten: %+v\nas is:   %+v", written.Findings, asIs.Findings)
	}
	for _, f := range []string{"apps.yaml", "crlf.yaml"} {
		if !strings.Contains(args, filepath.Join(root, "k8s", f)) {
			t.Errorf("%s was not passed as it is:\n%s", f, args)
		}
	}
	for _, f := range []string{"comment-sep.yaml", "mixed.yaml", "helm.yaml"} {
		if strings.Contains(args, filepath.Join(root, "k8s", f)) {
			t.Errorf("%s was passed as it is, but kube-score would misread it:\n%s", f, args)
		}
	}
	want := map[string]int{"Deployment/shop/web": 4, "Deployment/shop/api": 16, "Deployment/shop/db": 28, "Deployment/shop/crlf": 1,
		"Deployment/shop/one": 1, "Deployment/shop/two": 13, "Deployment/shop/mixed": 6, "Deployment/shop/helm": 2}
	got := map[string]int{}
	for _, f := range asIs.Findings {
		if f.RuleID == "container-image-tag" {
			got[f.Location.Resource] = f.Location.Line
		}
	}
	for res, line := range want {
		if res == "Deployment/shop/db" {
			continue // a pinned tag: no container-image-tag finding
		}
		if got[res] != line {
			t.Errorf("%s: container-image-tag at line %d, want %d (all: %v)", res, got[res], line, got)
		}
	}
}
