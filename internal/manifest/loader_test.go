package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// The shared loader reads YAML as Kubernetes does (YAML 1.1 booleans, merge keys with
// overrides) and decides once, for every stage.
func TestDecodeLikeKubernetes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, d Document)
	}{
		{"boolean-looking name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yes\n", func(t *testing.T, d Document) {
			md := d.Object["metadata"].(map[string]any)
			if md["name"] != true || d.Name != "yes" {
				t.Errorf("name decoded as %#v (shown %q), want the boolean true shown as yes", md["name"], d.Name)
			}
		}},
		{"quoted name stays a string", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"off\"\n", func(t *testing.T, d Document) {
			if d.Object["metadata"].(map[string]any)["name"] != "off" {
				t.Errorf("quoted off decoded as %#v", d.Object["metadata"])
			}
		}},
		{"on as a key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  on: x\n", func(t *testing.T, d Document) {
			if _, ok := d.Object["data"].(map[string]any)["true"]; !ok {
				t.Errorf("key on decoded as %v, want \"true\" as Kubernetes reads it", d.Object["data"])
			}
		}},
		{"merge key with override", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  labels: &l {a: b, c: d}\n  annotations:\n    <<: *l\n    a: override\n", func(t *testing.T, d Document) {
			ann := d.Object["metadata"].(map[string]any)["annotations"].(map[string]any)
			if ann["a"] != "override" || ann["c"] != "d" || !d.Normalized {
				t.Errorf("annotations %v (normalized %v), want merged with the override and Normalized", ann, d.Normalized)
			}
		}},
		{"merge of a list of mappings: earlier wins", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\nx: &x {k: 1}\ny: &y {k: 2, z: 3}\ndata:\n  <<: [*x, *y]\n", func(t *testing.T, d Document) {
			data := d.Object["data"].(map[string]any)
			if data["k"] != 1 || data["z"] != 3 {
				t.Errorf("data %v", data)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The header scan must not read these differently: it decodes them in full too, except
			// a document whose only special part is below the header (on as a data key).
			modes := []bool{false, true}
			if tt.name == "on as a key" || strings.HasPrefix(tt.name, "merge of a list") {
				modes = modes[:1]
			}
			for _, shallow := range modes {
				docs, _, err := parse("a.yaml", []byte(tt.body), shallow)
				if err != nil || len(docs) != 1 {
					t.Fatalf("shallow=%v: %v %v", shallow, docs, err)
				}
				tt.check(t, docs[0])
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	bomb := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		bomb += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	tests := []struct {
		name, body string
		line       int
		msg        string
	}{
		// Bug 5 of issue 7: lines in a later document are the file's lines.
		{"duplicate key in the second document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  name: c\n",
			9, `document 2: key "name" is defined twice in one mapping (first at line 8)`},
		{"alias bomb", bomb, 0, "aliases expand to too many values"},
		{"merge of a scalar", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: &s str\ndata:\n  <<: *s\n", 6, "merge key (<<) needs a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.body))
			var ie *model.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.msg) || tt.line > 0 && ie.Line != tt.line {
				t.Fatalf("got %v, want an input error at line %d containing %q", err, tt.line, tt.msg)
			}
		})
	}
}

// Bug 6 of issue 7: a ConfigMap with 150,000 keys took minutes in yaml.v3's pairwise
// duplicate-key check. The loader's check is linear; this guards against a return to the
// quadratic one (which needs about four minutes here), not a speed target: see
// BenchmarkLoadLargeConfigMap.
func TestLargeMappingIsNotQuadratic(t *testing.T) {
	body := largeConfigMap(150_000)
	done := make(chan error, 1)
	go func() {
		docs, err := Parse("big.yaml", body)
		if err == nil && len(docs[0].Object["data"].(map[string]any)) != 150_000 {
			err = fmt.Errorf("decoded %d keys", len(docs[0].Object["data"].(map[string]any)))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("decoding a 150k-key ConfigMap did not finish in 60s: the duplicate-key check is quadratic again")
	}
}

func BenchmarkLoadLargeConfigMap(b *testing.B) {
	body := largeConfigMap(150_000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse("big.yaml", body); err != nil {
			b.Fatal(err)
		}
	}
}

func largeConfigMap(n int) []byte {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  key-%06d: value-%06d-abcdefgh\n", i, i)
	}
	return []byte(sb.String())
}

// A walk classifies YAML and JSON: what is not Kubernetes is skipped with one note each,
// broken manifests are errors, and every bad file is reported in one run.
func TestClassify(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
	tests := []struct {
		file, body string
		want       string // "docs:N", "skip:<part of reason>" or "error:<part of message>"
	}{
		{"docker-compose.yml", "services: {web: {image: nginx}}\n", "skip:Docker Compose"},
		{"compose.yaml", "services: {}\n", "skip:Docker Compose"},
		{"chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n", "skip:helm template"},
		{"values-prod.yaml", "replicas: 2\n", "skip:Helm values"},
		{"skaffold.yaml", "apiVersion: skaffold/v4beta11\nkind: Config\n", "skip:Skaffold"},
		{"deploy/skaffold-dev.yaml", "apiVersion: skaffold/v4beta11\nkind: Config\n", "skip:Skaffold"},
		{"other.yaml", "apiVersion: skaffold/v4beta11\nkind: Config\nmetadata: {name: x}\n", "skip:Skaffold"},
		{"cloudbuild.yaml", "steps: [{name: x}]\n", "skip:Cloud Build"},
		{".gitlab-ci.yml", "stages: [a]\n", "skip:CI config"},
		{".github/workflows/ci.yaml", "on: [push]\n", "skip:CI config"},
		{"kubeconfig.yaml", "apiVersion: v1\nkind: Config\nclusters: []\n", "skip:kubeconfig"},
		{"kind.yaml", "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n", "skip:kind cluster"},
		{"kubelet.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", "skip:component config"},
		{"tsconfig.json", "{\n  // comments\n  \"a\": 1\n}\n", "skip:tool or package config"},
		{"settings.json", `{"port": 80}`, "skip:no apiVersion and kind"},
		{"list.yaml", "- a\n- b\n", "skip:is a sequence"},
		// podinfo's otel/grafana-datasources.yaml: Grafana provisioning says apiVersion: 1.
		{"grafana-datasources.yaml", "apiVersion: 1\ndatasources:\n- name: Tempo\n  type: tempo\n", "skip:no apiVersion and kind"},
		{"ansible.yml", "- hosts: all\n  tasks: [{name: x, debug: {msg: \"{{ item }}\"}}]\n", "skip:is a sequence"},
		{"notyaml.yaml", "key: [unclosed\n", "skip:not valid YAML or JSON"},
		{"broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n", "error:invalid YAML"},
		{"half.yaml", "kind: Deployment\nmetadata: {name: a}\n", "error:has no apiVersion"},
		{"mixed.yaml", cm + "---\nfoo: bar\n", "error:document 2 has no apiVersion and kind"},
		{"with-kustomization.yaml", cm + "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", "docs:1"},
		{"helmrelease.yaml", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: a}\n", "docs:1"},
		{"plain.yaml", cm, "docs:1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			docs, skips, err := Classify(tt.file, []byte(tt.body))
			kind, want, _ := strings.Cut(tt.want, ":")
			switch kind {
			case "docs":
				if err != nil || fmt.Sprint(len(docs)) != want {
					t.Errorf("got %d docs, %v", len(docs), err)
				}
			case "skip":
				if err != nil || len(docs) != 0 || len(skips) != 1 || !strings.Contains(skips[0].Reason, want) || skips[0].File != tt.file || skips[0].Line < 1 {
					t.Errorf("got docs %d, skips %+v, err %v; want one skip saying %q", len(docs), skips, err, want)
				}
			case "error":
				var ie *model.InputError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), want) || ie.File != tt.file || ie.Line < 1 {
					t.Errorf("got %v, want an input error at %s:LINE containing %q", err, tt.file, want)
				}
			}
		})
	}
}

func TestWalkReportsEveryBadFile(t *testing.T) {
	root := t.TempDir()
	write(t, root, "k8s/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
	write(t, root, "k8s/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
	write(t, root, "k8s/c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  name: y\n---\nkind: Service\n")
	write(t, root, "k8s/compose.yaml", "services: {}\n")
	write(t, root, "k8s/d.json", `{"apiVersion": "v1", "kind": }`)
	l := &Loader{Root: root}
	_, err := l.Load(context.Background(), []string{"k8s"})
	var many Errors
	if !errors.As(err, &many) {
		t.Fatalf("got %T %v, want every bad file", err, err)
	}
	var got []string
	for _, e := range many {
		got = append(got, fmt.Sprintf("%s:%d", e.File, e.Line))
	}
	if want := "k8s/b.yaml:3,k8s/c.yaml:9,k8s/c.yaml:11,k8s/d.json:1"; strings.Join(got, ",") != want {
		t.Errorf("errors at %v, want %s\n%v", got, want, err)
	}
	var ie *model.InputError
	if !errors.As(err, &ie) {
		t.Error("errors.As finds no *model.InputError: the stage would not exit 2")
	}
	if len(l.Skipped) != 1 || l.Skipped[0].File != "k8s/compose.yaml" {
		t.Errorf("skipped %+v, want the compose file", l.Skipped)
	}
}

// TestWalkReadsAheadInOrder checks the read-ahead on a tree larger than its bound: documents,
// notes and errors come in the walk's order whatever order the files were parsed in, and a
// callback error stops the walk (and the reading) at once.
func TestWalkReadsAheadInOrder(t *testing.T) {
	root := t.TempDir()
	const n = 300
	for i := range n {
		body := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%03d}\n", i)
		switch i % 50 {
		case 7:
			body = "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n" // bad input
		case 9:
			body = "services: {}\n" // not Kubernetes: a note
		}
		write(t, root, fmt.Sprintf("k8s/f%03d.yaml", i), body)
	}
	for _, shallow := range []bool{false, true} {
		l := &Loader{Root: root, Shallow: shallow}
		var names []string
		err := l.Walk(context.Background(), []string{"k8s"}, func(docs []Document) error {
			for _, d := range docs {
				names = append(names, d.Name)
			}
			return nil
		})
		var many Errors
		if !errors.As(err, &many) || len(many) != n/50 {
			t.Fatalf("shallow=%v: got %v, want %d bad files", shallow, err, n/50)
		}
		for k, e := range many {
			if want := fmt.Sprintf("k8s/f%03d.yaml", 50*k+7); e.File != want {
				t.Errorf("shallow=%v: error %d in %s, want %s", shallow, k, e.File, want)
			}
		}
		if len(l.Skipped) != n/50 || l.Skipped[0].File != "k8s/f009.yaml" || l.Skipped[n/50-1].File != fmt.Sprintf("k8s/f%03d.yaml", n-50+9) {
			t.Errorf("shallow=%v: notes %+v", shallow, l.Skipped)
		}
		if len(names) != n-2*n/50 {
			t.Fatalf("shallow=%v: %d documents, want %d", shallow, len(names), n-2*n/50)
		}
		for i := 1; i < len(names); i++ {
			if names[i-1] >= names[i] {
				t.Fatalf("shallow=%v: %s came before %s", shallow, names[i-1], names[i])
			}
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := (&Loader{Root: root}).Walk(context.Background(), []string{"k8s"}, func([]Document) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("a failing callback: err %v after %d calls, want its error after 1", err, calls)
	}
}

// Kustomizations render once, from their roots, and every object maps back to its source.
func TestKustomizeRootsAndProvenance(t *testing.T) {
	root := t.TempDir()
	write(t, root, "k/base/kustomization.yaml", "resources:\n- app.yaml\nconfigMapGenerator:\n- name: settings\n  literals: [a=b]\n")
	write(t, root, "k/base/app.yaml", "# the app\napiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n")
	write(t, root, "k/comp/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [np.yaml]\n")
	write(t, root, "k/comp/np.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}\n")
	write(t, root, "k/unused/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
	write(t, root, "k/prod/kustomization.yaml", "namePrefix: prod-\nnamespace: prod\nresources: [../base]\ncomponents: [../comp]\n")
	write(t, root, "k/dev/kustomization.yaml", "buildMetadata: [originAnnotations]\nnameSuffix: -dev\nresources: [../base]\n")
	l := &Loader{Root: root}
	docs, err := l.Load(context.Background(), []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, fmt.Sprintf("%s %s:%d (%s)", d.Resource(), d.File, d.Line, d.Unit))
		if md, ok := d.Object["metadata"].(map[string]any); ok {
			if ann, ok := md["annotations"].(map[string]any); ok && d.Unit == "k/prod" {
				if _, ok := ann[originAnnotation]; ok {
					t.Errorf("%s keeps the origin annotation Tollgate asked for", d.Resource())
				}
			}
		}
	}
	want := []string{
		"Service/web-dev k/base/app.yaml:7 (k/dev)",
		"Service/api-dev k/base/app.yaml:2 (k/dev)",
		"ConfigMap/settings-dev-", // generated: name has a hash
		"Service/prod/prod-api k/base/app.yaml:2 (k/prod)",
		"Service/prod/prod-web k/base/app.yaml:7 (k/prod)",
		"ConfigMap/prod/prod-settings-",
		"NetworkPolicy/prod/prod-deny k/comp/np.yaml:1 (k/prod)",
	}
	if len(got) != len(want) {
		t.Fatalf("rendered %d objects, want %d (base rendered through its overlays only):\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
				if strings.HasPrefix(w, "ConfigMap") && !strings.Contains(g, "k/base/kustomization.yaml:4") {
					t.Errorf("%s: want the generator's line k/base/kustomization.yaml:4", g)
				}
			}
		}
		if !found {
			t.Errorf("missing %s in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(l.Skipped) != 1 || l.Skipped[0].File != "k/unused/kustomization.yaml" || !strings.Contains(l.Skipped[0].Reason, "Component") {
		t.Errorf("skipped %+v, want the unused component", l.Skipped)
	}
	// The dev overlay asked for origin annotations itself: they stay.
	for _, d := range docs {
		if d.Unit == "k/dev" {
			md := d.Object["metadata"].(map[string]any)
			if ann, _ := md["annotations"].(map[string]any); ann[originAnnotation] == nil {
				t.Errorf("%s lost the origin annotation its kustomization asked for", d.Resource())
			}
		}
	}
}

func TestHelmChartOutcomes(t *testing.T) {
	root := t.TempDir()
	write(t, root, "c/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
	write(t, root, "c/templates/deploy.yaml", "# a comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: other\n")
	rendered := "---\n# Source: web/templates/deploy.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: release-name\n---\n# Source: web/templates/deploy.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: other\n"
	tests := []struct {
		name   string
		render HelmRenderer
		want   string
	}{
		{"rendered", func(context.Context, string) ([]byte, error) { return []byte(rendered), nil },
			"Service/release-name c/templates/deploy.yaml:3,Service/other c/templates/deploy.yaml:8"},
		{"no renderer", nil, "skip c/Chart.yaml:1 a Helm chart: not rendered here (no helm)"},
		{"helm unavailable", func(context.Context, string) ([]byte, error) {
			return nil, &UnavailableError{Err: errors.New("tool not installed")}
		}, "skip c/Chart.yaml:1 a Helm chart, not rendered: helm cannot run here (tool not installed)"},
		{"missing dependencies", func(context.Context, string) ([]byte, error) {
			return nil, &HelmError{Stderr: "Error: found in Chart.yaml, but missing in charts/ directory: redis\n"}
		}, "skip c/Chart.yaml:1 a Helm chart, not rendered: found in Chart.yaml, but missing in charts/ directory: redis (run `helm dependency build c` first)"},
		{"template error", func(context.Context, string) ([]byte, error) {
			return nil, &HelmError{Stderr: "Error: template: web/templates/deploy.yaml:5:12: executing \"web/templates/deploy.yaml\" at <.Values.x.y>: nil pointer\n"}
		}, "error c/templates/deploy.yaml:5 helm template: template: web/templates/deploy.yaml:5:12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &Loader{Root: root, Helm: tt.render}
			docs, err := l.Load(context.Background(), []string{"c"})
			var got []string
			for _, d := range docs {
				got = append(got, fmt.Sprintf("%s %s:%d", d.Resource(), d.File, d.Line))
			}
			for _, s := range l.Skipped {
				got = append(got, fmt.Sprintf("skip %s:%d %s", s.File, s.Line, s.Reason))
			}
			var ie *model.InputError
			if errors.As(err, &ie) {
				got = append(got, fmt.Sprintf("error %s:%d %v", ie.File, ie.Line, ie.Err))
			} else if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, ","); !strings.Contains(g, tt.want) {
				t.Errorf("got %s\nwant %s", g, tt.want)
			}
		})
	}
}

// A strict walk (a policy library) turns every file it would pass over into bad input at its
// line, where a normal walk skips it with a note.
func TestStrictWalk(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"ok.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"compose.yaml": "services:\n  web: {image: nginx}\n",
		"tabs.yaml":    "policies:\n\t- tabs are not YAML\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, strict := range []bool{false, true} {
		l := &Loader{Root: dir, Strict: strict}
		docs, err := l.Load(context.Background(), []string{"."})
		if !strict {
			if err != nil || len(docs) != 1 || len(l.Skipped) != 2 {
				t.Errorf("normal walk: %d docs, %d skipped, err %v; want 1, 2, nil", len(docs), len(l.Skipped), err)
			}
			continue
		}
		if err == nil || !IsInputError(err) || len(l.Skipped) != 0 {
			t.Fatalf("strict walk: err %v, skipped %v; want an input error and nothing skipped", err, l.Skipped)
		}
		for _, want := range []string{"compose.yaml:1", "tabs.yaml:2"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("strict walk error %q does not name %s", err, want)
			}
		}
	}
}
