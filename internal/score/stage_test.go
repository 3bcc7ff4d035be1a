package score

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// TestStagePaths: positional arguments win over score.paths, which wins over validate.paths.
func TestStagePaths(t *testing.T) {
	cfg := config.Default()
	cfg.Validate.Paths = []string{"good"}
	cases := []struct {
		name       string
		scorePaths []string
		args       []string
		want       string // a rule that must fire, "" for none
	}{
		{"validate paths", nil, nil, ""},
		{"score paths", []string{"bad-privileged"}, nil, "container-security-context-privileged"},
		{"args", []string{"bad-privileged"}, []string{"bad-latest-tag/app.yaml"}, "container-image-tag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := *cfg
			cfg.Score.Paths = c.scorePaths
			res, err := Stage().Run(context.Background(), newEnv(t, &cfg, c.args...))
			if err != nil {
				t.Fatal(err)
			}
			got := ruleIDs(res.Findings)
			if c.want == "" && len(got) != 0 || c.want != "" && (len(got) != 1 || got[c.want] == 0) {
				t.Fatalf("findings = %v, want %q", got, c.want)
			}
		})
	}
}

// TestStageArtifact: with an output dir the stage keeps kube-score's raw JSON.
func TestStageArtifact(t *testing.T) {
	env := newEnv(t, config.Default(), "bad-pull-policy")
	env.OutDir = filepath.Join(t.TempDir(), "reports")
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 1 || res.Artifacts[0].Path != filepath.Join(env.OutDir, RawOutputName) {
		t.Fatalf("artifacts = %+v", res.Artifacts)
	}
	b, err := os.ReadFile(res.Artifacts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(b, &objs); err != nil || len(objs) != 4 {
		t.Fatalf("artifact is not kube-score's JSON for 4 objects: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(env.OutDir, ".*")); len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}

// TestStageBadInput: garbage input is an input error naming the file (and line, where there is
// one), never a panic, a hang or a pass.
func TestStageBadInput(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: [oops\n")
	write("binary.yaml", "\x00\x01\x02\xff\xfe garbage")
	write("scalar.yaml", "just a string\n")
	// A syntax error below the header: the header scan passes it, the full decode beside
	// kube-score must still report it as bad input at its line.
	write("deep.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: [oops\n")
	write("nokind.yaml", "apiVersion: v1\nmetadata:\n  name: x\n")
	write("empty/README.md", "no manifests here\n")
	cases := []struct {
		path string
		line bool
	}{
		{"broken.yaml", true},
		{"deep.yaml", true},
		{"binary.yaml", false},
		{"scalar.yaml", false},
		{"nokind.yaml", false},
		{"missing.yaml", false},
		{"empty", false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			env := newEnv(t, config.Default(), c.path)
			env.Root = root
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Stage().Run(ctx, env)
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %+v, %v; want an input error", res, err)
			}
			if !strings.Contains(err.Error(), c.path) {
				t.Fatalf("error %q does not name %s", err, c.path)
			}
			// The CLI prints "tollgate: score: <error>"; the error must not repeat the stage.
			if strings.HasPrefix(err.Error(), Name+": ") {
				t.Errorf("error %q repeats the stage name the runner already adds", err)
			}
			if c.line && ie.Line == 0 {
				t.Fatalf("error %q has no line", err)
			}
			if r := model.ErrorResult(Name, Tool(), err); r.ErrorKind != model.ErrKindInput {
				t.Fatalf("error kind = %s, want input (exit 2)", r.ErrorKind)
			}
		})
	}
}

// TestDemoApp: the demo app's manifests pass the score gate with its own tollgate.yaml and have
// no HIGH finding.
func TestDemoApp(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(root, config.FileName), true)
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, cfg)
	env.Root = root
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	gate.Apply(res, cfg, time.Now())
	for _, f := range res.Findings {
		if f.Severity >= model.SeverityHigh {
			t.Errorf("HIGH finding in the demo app: %s %s: %s", f.RuleID, f.Location.Resource, f.Message)
		}
	}
	if res.Status != model.StatusPass {
		t.Fatalf("demo status = %s (%s)", res.Status, res.Summary)
	}
	t.Logf("demo: %s", res.Summary)
}

// TestInputForms: documents reach kube-score intact whatever their raw form, and findings map
// back to them: a Helm "# Source:" comment (which makes kube-score report another file name), a
// List item re-encoded as JSON, and an object without raw bytes.
func TestInputForms(t *testing.T) {
	pod := func(name string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "namespace": "x"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx:latest"}}}}
	}
	helmRaw := "# Source: chart/templates/pod.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: helm\n  namespace: x\nspec:\n  containers:\n    - name: c\n      image: nginx:latest\n"
	listItem, err := json.Marshal(pod("item"))
	if err != nil {
		t.Fatal(err)
	}
	docs := []manifest.Document{
		{File: "helm.yaml", Line: 3, APIVersion: "v1", Kind: "Pod", Namespace: "x", Name: "helm", Object: pod("helm"), Raw: []byte(helmRaw)},
		{File: "list.json", Line: 7, APIVersion: "v1", Kind: "Pod", Namespace: "x", Name: "item", Object: pod("item"), Raw: listItem},
		{File: "obj.yaml", Line: 11, APIVersion: "v1", Kind: "Pod", Namespace: "x", Name: "obj", Object: pod("obj")},
		{File: "sep.yaml", Line: 13, APIVersion: "v1", Kind: "Pod", Namespace: "x", Name: "sep", Object: pod("sep"),
			Raw: []byte("---\napiVersion: v1\nkind: Pod\nmetadata: {name: sep, namespace: x}\nspec:\n  containers: [{name: c, image: 'nginx:latest'}]\n")},
	}
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Pod/x/helm": "helm.yaml:3", "Pod/x/item": "list.json:7", "Pod/x/obj": "obj.yaml:11", "Pod/x/sep": "sep.yaml:13"}
	got := map[string]string{}
	for _, f := range res.Findings {
		if f.RuleID == "container-image-tag" {
			got[f.Location.Resource] = f.Location.File + ":" + strconv.Itoa(f.Location.Line)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: container-image-tag at %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// TestDuplicateObjects: kube-score merges objects of the same kind, namespace and name; the
// stage still scores them and reports each finding once.
func TestDuplicateObjects(t *testing.T) {
	docs := append(load(t, "bad-latest-tag"), load(t, "bad-latest-tag")...)
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].RuleID != "container-image-tag" {
		t.Fatalf("findings = %+v, want one container-image-tag", res.Findings)
	}
}

// TestUnscoredKinds: kinds kube-score does not score (ConfigMap, CRDs) pass through without
// findings and without tripping the "did not report" check.
func TestUnscoredKinds(t *testing.T) {
	docs := []manifest.Document{
		{File: "cm.yaml", Line: 1, APIVersion: "v1", Kind: "ConfigMap", Name: "cfg",
			Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"}, "data": map[string]any{"a": "b"}}},
		{File: "cr.yaml", Line: 1, APIVersion: "example.com/v1", Kind: "Widget", Name: "w",
			Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}},
	}
	res, err := Runner{Binary: kubeScore(t)}.Score(context.Background(), OptionsFrom(config.Default()), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 {
		t.Fatalf("findings = %+v", res.Findings)
	}
}
