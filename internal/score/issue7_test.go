package score

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func loadTree(t *testing.T, files map[string]string, paths ...string) []manifest.Document {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := manifest.Load(context.Background(), paths, root)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func deployment(name, container string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
      - name: %s
        image: nginx:latest
`, name, name, name, container)
}

func locations(fs []model.Finding, rule string) []string {
	var out []string
	for _, f := range fs {
		if f.RuleID == rule {
			out = append(out, fmt.Sprintf("%s:%d %s", f.Location.File, f.Location.Line, f.Location.Resource))
		}
	}
	return out
}

// Bug 4 of issue 7: two files each holding Deployment/web (kube-score merges objects with one
// kind, namespace and name) get their own findings, whatever the argument order.
func TestSameObjectInTwoFiles(t *testing.T) {
	files := map[string]string{"a.yaml": deployment("web", "from-a"), "b.yaml": deployment("web", "from-b"),
		"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n"}
	for _, order := range [][]string{{"a.yaml", "b.yaml", "svc.yaml"}, {"b.yaml", "svc.yaml", "a.yaml"}} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			docs := loadTree(t, files, order...)
			res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(locations(res.Findings, "container-image-tag"), ";")
			if got != "a.yaml:1 Deployment/web;b.yaml:1 Deployment/web" {
				t.Errorf("container-image-tag at %s, want one on each file", got)
			}
			for _, f := range res.Findings {
				if f.RuleID == "container-image-tag" && !strings.Contains(f.Message, "from-"+strings.TrimSuffix(f.Location.File, ".yaml")) {
					t.Errorf("%s: message %q is about another file's container", f.Location.File, f.Message)
				}
			}
			// The Service relates to both copies: its checks ran (and passed) in each run, once reported.
			if n := len(locations(res.Findings, "service-targets-pod")); n != 0 {
				t.Errorf("service-targets-pod reported %d times: the Service did not see its pods", n)
			}
		})
	}
}

// Bug 3 of issue 7: one document kube-score cannot decode (a string port in a List, a wrongly
// typed field) does not stop the stage: the rest is scored, and that document is reported at
// its file and line as not scored (CRITICAL: the gate did not look at it).
func TestUnreadableDocumentDoesNotStopTheRest(t *testing.T) {
	files := map[string]string{
		"good.yaml": deployment("good", "app"),
		"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n  spec:\n    ports:\n    - port: \"eighty\"\n",
		"disk.yaml": deployment("disk", "app") + "        volumeMounts: [{name: d, mountPath: /d}]\n      volumes:\n      - name: d\n        iscsi:\n          targetPortal: 10.0.0.1:3260\n          iqn: iqn.2001-04.com.example:storage\n          lun: <ADD LUN ID Here>\n",
		"on.yaml":   strings.Replace(deployment("web", "app"), "name: web\n", "name: on\n", 1),
	}
	docs := loadTree(t, files, "good.yaml", "list.yaml", "disk.yaml", "on.yaml")
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatalf("one bad document stopped the stage: %v", err)
	}
	got := locations(res.Findings, RuleUnscored)
	want := "disk.yaml:19 Deployment/disk;list.yaml:4 Service/s;on.yaml:4 Deployment/on"
	if strings.Join(got, ";") != want {
		t.Errorf("unscored documents at %v, want %s", got, want)
	}
	for _, f := range res.Findings {
		if f.RuleID == RuleUnscored && f.Severity != model.SeverityCritical {
			t.Errorf("%s: severity %s, want CRITICAL", f.Location.File, f.Severity)
		}
		if f.RuleID == RuleUnscored && f.Location.File == "on.yaml" && !strings.Contains(f.Message, "quote the value") {
			t.Errorf("boolean name not explained: %s", f.Message)
		}
	}
	if got := locations(res.Findings, "container-image-tag"); strings.Join(got, ";") != "good.yaml:1 Deployment/good" {
		t.Errorf("the good document was not scored: container-image-tag at %v", got)
	}
}

// Bug 7 of issue 7: a merge key with an override is read once, by the shared loader; score sees
// the merged containers, as validate does.
func TestMergeKeysScoredAsMerged(t *testing.T) {
	body := strings.Replace(deployment("web", "a"), "      - name: a\n        image: nginx:latest\n",
		"      - &c\n        name: a\n        image: nginx:1.27\n      - <<: *c\n        name: b\n        image: nginx:latest\n", 1)
	docs := loadTree(t, map[string]string{"m.yaml": body}, "m.yaml")
	if !docs[0].Normalized {
		t.Fatal("the loader did not mark the merged document")
	}
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		if f.RuleID == "container-image-tag" && !strings.Contains(f.Message, "container b") {
			t.Errorf("image tag finding %q: want it on the merged container b", f.Message)
		}
	}
	if len(locations(res.Findings, "container-image-tag")) != 1 {
		t.Errorf("container-image-tag findings: %v", locations(res.Findings, "container-image-tag"))
	}
}

// Bug 6 of issue 7: a 150k-key ConfigMap beside a Deployment (kube-score does not score
// ConfigMaps, so it is not even handed over). The loader guard is in internal/manifest; this
// is the stage end to end.
func TestLargeConfigMapBesideWorkloads(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n")
	for i := range 150_000 {
		fmt.Fprintf(&sb, "  k%06d: v%06d\n", i, i)
	}
	docs := loadTree(t, map[string]string{"big.yaml": sb.String(), "d.yaml": deployment("web", "app")}, "big.yaml", "d.yaml")
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(locations(res.Findings, "container-image-tag")) != 1 {
		t.Errorf("findings %v", res.Findings)
	}
}

func TestPartition(t *testing.T) {
	d := func(file, kind, ns, name string) manifest.Document {
		return manifest.Document{File: file, APIVersion: "v1", Kind: kind, Namespace: ns, Name: name,
			Object: map[string]any{"metadata": map[string]any{"namespace": ns}}}
	}
	docs := []manifest.Document{d("a", "Pod", "", "x"), d("b", "Pod", "", "x"), d("c", "Service", "", "x"), d("d", "Pod", "n", "x"), d("e", "Pod", "", "x")}
	var got []string
	for _, run := range partition(docs) {
		var files []string
		for _, doc := range run {
			files = append(files, doc.File)
		}
		got = append(got, strings.Join(files, ""))
	}
	if strings.Join(got, ",") != "acd,bcd,cde" {
		t.Errorf("runs %v, want each copy of Pod/x in its own run with the rest", got)
	}
}

// Objects with only a generateName have an empty name in kube-score's key (argocd-example-apps
// has two such Jobs, named alike, in two directories): both are scored, each on its file.
func TestGenerateNameObjects(t *testing.T) {
	job := "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: upgrade-sql-schema\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: 'nginx:latest'}]\n"
	docs := loadTree(t, map[string]string{"hooks/m.yaml": job, "waves/m.yaml": job}, "hooks", "waves")
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(locations(res.Findings, "container-image-tag"), ";"); got != "hooks/m.yaml:1 Job/upgrade-sql-schema;waves/m.yaml:1 Job/upgrade-sql-schema" {
		t.Errorf("container-image-tag at %s", got)
	}
}
