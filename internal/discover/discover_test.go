package discover_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/discover"
)

// withNoise adds what real trees hold besides the project's own inputs and discovery must
// pass over: gitignored build output, vendored code, hidden directories.
func withNoise(t *testing.T, root string) {
	t.Helper()
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
	write(t, root, "build/Dockerfile", "FROM scratch\n")                        // /build/ is gitignored
	write(t, root, "deploy/generated/all.yaml", deploy)                         // generated/ is gitignored
	write(t, root, "src/frontend/node_modules/left-pad/Dockerfile", "FROM x\n") // vendored
	write(t, root, "vendor/github.com/x/y/Dockerfile", "FROM x\n")
	write(t, root, "third_party/tool/k8s/deploy.yaml", deploy)
	write(t, root, ".devcontainer/Dockerfile", "FROM x\n") // hidden
	write(t, root, "docs/examples/README.md", "Dockerfile examples\n")
	write(t, root, "src/cart/Dockerfile.dockerignore", "*.tmp\n") // BuildKit's per-Dockerfile ignore file
}

func TestDiscoverMicroservices(t *testing.T) {
	root := fixture(t, "microservices")
	withNoise(t, root)
	got, err := discover.Discover(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	want := &discover.Result{
		Dockerfiles:    []string{"src/cart/Dockerfile", "src/catalog/Dockerfile", "src/frontend/Dockerfile", "src/legacy/Dockerfile"},
		Kustomizations: []string{"kustomize/overlays/dev", "kustomize/overlays/prod"},
		Bases:          []string{"kustomize/base", "kustomize/components/network-policies"},
		Charts:         []string{"charts/storefront"},
		Dirs:           []string{"deploy"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("discovered\n%+v\nwant\n%+v", got, want)
	}
	if p := got.ManifestPaths(); strings.Join(p, ",") != "charts/storefront,deploy,kustomize/overlays/dev,kustomize/overlays/prod" {
		t.Errorf("manifest paths %v", p)
	}
}

func TestDiscoverShapes(t *testing.T) {
	cm := func(name string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n" }
	tests := []struct {
		name  string
		files map[string]string
		want  []string // manifest paths
		dfs   []string
	}{
		{"manifests at the root are named one by one", map[string]string{"app.yaml": cm("a"), "compose.yaml": "services: {}\n", "k8s/b.yaml": cm("b")},
			[]string{"app.yaml", "k8s"}, nil},
		{"nested manifest dirs collapse into the top one", map[string]string{"deploy/a.yaml": cm("a"), "deploy/jobs/b.yaml": cm("b")},
			[]string{"deploy"}, nil},
		{"a base alone is a root", map[string]string{"k/kustomization.yaml": "resources: [a.yaml]\n", "k/a.yaml": cm("a")},
			[]string{"k"}, nil},
		{"an overlay's base is not", map[string]string{"k/base/kustomization.yaml": "resources: [a.yaml]\n", "k/base/a.yaml": cm("a"),
			"k/prod/kustomization.yaml": "resources: [../base]\n"},
			[]string{"k/prod"}, nil},
		{"a broken manifest is still found (the walk reports it)", map[string]string{"m/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"},
			[]string{"m"}, nil},
		{"YAML that is not Kubernetes is not a manifest dir", map[string]string{"ci/pipeline.yml": "stages: [a]\n", "conf/app.json": `{"port": 80}`, "tmpl/x.yaml": "a: {{ b }}\n"},
			nil, nil},
		{"Dockerfile names", map[string]string{"Dockerfile": "", "svc/api.Dockerfile": "", "Dockerfile.dev": "", "Containerfile": "", "Dockerfile.md": "", "docs/dockerfile.txt": ""},
			nil, []string{"Containerfile", "Dockerfile", "Dockerfile.dev", "svc/api.Dockerfile"}},
		{"a chart is one input; its templates are not manifests", map[string]string{"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
			"chart/templates/d.yaml": "kind: {{ .Values.kind }}\n", "chart/charts/sub/Chart.yaml": "apiVersion: v2\nname: s\nversion: 1.0.0\n"},
			[]string{"chart"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, b := range tt.files {
				write(t, root, p, b)
			}
			got, err := discover.Discover(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			if p := got.ManifestPaths(); strings.Join(p, ",") != strings.Join(tt.want, ",") {
				t.Errorf("manifest paths %v, want %v", p, tt.want)
			}
			if strings.Join(got.Dockerfiles, ",") != strings.Join(tt.dfs, ",") {
				t.Errorf("Dockerfiles %v, want %v", got.Dockerfiles, tt.dfs)
			}
			if got.Empty() != (len(tt.want) == 0 && len(tt.dfs) == 0) {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}
