package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
	cacheRoot string
)

func TestMain(m *testing.M) {
	var err error
	if cacheRoot, err = os.MkdirTemp("", "tollgate-schemas-test-*"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(cacheRoot)
	os.Exit(code)
}

// built generates the v1.36.0 schemas once per test binary, with this binary's code.
func built(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = Build(context.Background(), Options{K8sVersion: "v1.36.0", CacheDir: cacheRoot})
	})
	if buildErr != nil {
		t.Fatalf("Build: %v", buildErr)
	}
	return builtDir
}

// compiled compiles a schema the way kubeconform does.
func compiled(t *testing.T, b []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("file:///s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///s.json")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

func builtSchema(t *testing.T, file string) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(built(t), VersionDir("1.36.0", true), file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return compiled(t, b), m
}

// instance decodes YAML into what kubeconform validates (YAML -> JSON -> any).
func instance(t *testing.T, y string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Trap 1: a schema that does not compile is "could not find schema" to kubeconform, so every
// generated schema is compiled here, strict and not.
func TestEveryBuiltinSchemaCompiles(t *testing.T) {
	dir := built(t)
	for _, strict := range []bool{true, false} {
		files, err := filepath.Glob(filepath.Join(dir, VersionDir("1.36.0", strict), "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 250 {
			t.Fatalf("only %d schemas in %s", len(files), VersionDir("1.36.0", strict))
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := Compile(b); err != nil {
				t.Errorf("%s does not compile: %v", filepath.Base(f), err)
			}
			if bytes.Contains(b, []byte(`"required":[]`)) {
				t.Errorf("%s has an empty required list", filepath.Base(f))
			}
		}
	}
	for _, want := range []string{"deployment-apps-v1.json", "pod-v1.json", "networkpolicy-networking-v1.json",
		"customresourcedefinition-apiextensions-v1.json", "cronjob-batch-v1.json"} {
		if _, err := os.Stat(filepath.Join(dir, VersionDir("1.36.0", true), want)); err != nil {
			t.Errorf("missing %s: %v", want, err)
		}
	}
}

func TestBuiltinTraps(t *testing.T) {
	pod, podMap := builtSchema(t, "pod-v1.json")
	deploy, _ := builtSchema(t, "deployment-apps-v1.json")
	tests := []struct {
		name   string
		schema *jsonschema.Schema
		doc    string
		valid  bool
	}{
		// Trap 2: quantities written as numbers are valid; garbage is not.
		{"quantity numbers", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    resources: {limits: {memory: 256000, cpu: 0.5}}\n", true},
		{"quantity strings", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    resources: {limits: {memory: 1.5Gi, cpu: 100m}}\n", true},
		{"quantity garbage", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    resources: {limits: {memory: lots}}\n", false},
		// Trap 3: int-or-string takes both, nothing else.
		{"int-or-string int", deploy, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n  template: {}\n  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}}\n", true},
		{"int-or-string bool", deploy, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n  template: {}\n  strategy: {rollingUpdate: {maxSurge: true}}\n", false},
		// Trap 4: optional fields accept null; required ones do not.
		{"null optional", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, creationTimestamp: null}\nspec:\n  containers:\n  - name: a\n    args:\n    env:\n", true},
		{"null required", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name:\n", false},
		// Strictness.
		{"unknown field", deploy, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 2\n  selector: {}\n  template: {}\n", false},
		{"wrong type", pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    ports: [{containerPort: \"80\"}]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.schema.Validate(instance(t, tt.doc))
			if (err == nil) != tt.valid {
				t.Errorf("valid=%v, want %v (err: %v)", err == nil, tt.valid, err)
			}
		})
	}
	// Trap 3, readability: int-or-string is a type list, never oneOf.
	port := dig(podMap, "properties", "spec", "properties", "containers", "items", "properties", "livenessProbe", "properties", "httpGet", "properties", "port")
	if _, ok := port["type"].([]any); !ok || port["oneOf"] != nil {
		t.Errorf("int-or-string port schema = %v, want a type list", port)
	}
}

// Trap 7: the CRD kind refers to itself (JSONSchemaProps); it keeps a local definitions section
// and a property literally named $ref stays a property.
func TestSelfReferencingCRDKind(t *testing.T) {
	s, m := builtSchema(t, "customresourcedefinition-apiextensions-v1.json")
	defs, _ := m["definitions"].(map[string]any)
	if len(defs) == 0 {
		t.Fatal("no definitions section for the self-referencing JSONSchemaProps")
	}
	props := dig(m, "properties", "spec", "properties", "versions", "items", "properties", "schema", "properties", "openAPIV3Schema", "properties")
	if _, ok := props["$ref"]; !ok {
		t.Errorf("the property named $ref was lost: %v", keys(props))
	}
	crd, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "manifests", "crds", "backup-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(instance(t, string(crd))); err != nil {
		t.Errorf("fixture CRD does not validate against the CRD kind's schema: %v", err)
	}
	bad := strings.Replace(string(crd), "scope: Namespaced", "scope: Namespaced\n  scopes: oops", 1)
	if err := s.Validate(instance(t, bad)); err == nil {
		t.Error("a typo in a CRD's spec passed")
	}
}

func TestCRDSchemas(t *testing.T) {
	om, err := LoadObjectMeta(built(t), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "manifests", "crds", "backup-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	list, err := FromCRD(crd, om, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].GVK != (GVK{"storage.example.com", "v1", "Backup"}) {
		t.Fatalf("got %v, want only the served version storage.example.com/v1 Backup", list)
	}
	root := list[0].Schema
	// Trap 5: apiVersion, kind and ObjectMeta are added, and the top level stays strict.
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		if dig(root, "properties", k) == nil {
			t.Errorf("CRD schema lacks %s", k)
		}
	}
	if dig(root, "properties", "metadata", "properties", "labels") == nil {
		t.Error("metadata is not ObjectMeta")
	}
	// Trap 6: no additionalProperties: false under preserve-unknown-fields, embedded resources
	// or inside oneOf branches.
	spec := dig(root, "properties", "spec", "properties")
	for _, k := range []string{"settings", "template"} {
		if v, ok := dig(spec, k)["additionalProperties"]; ok && v == false {
			t.Errorf("%s is strict despite x-kubernetes-preserve-unknown-fields / embedded-resource", k)
		}
	}
	for _, br := range dig(spec, "target")["oneOf"].([]any) {
		if _, ok := br.(map[string]any)["additionalProperties"]; ok {
			t.Errorf("oneOf branch has additionalProperties: %v", br)
		}
	}
	js, _ := json.Marshal(root)
	s := compiled(t, js)
	cases := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"valid", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b, labels: {a: b}}\nspec: {schedule: x, retention: 5d, settings: {any: 1}, template: {kind: Pod, x: 1}, target: {bucket: b}}\n", true},
		{"int-or-string as int", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedule: x, retention: 5}\n", true},
		{"null optional enum", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedule: x, mode: null}\n", true},
		{"top-level typo", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspce: {}\n", false},
		{"metadata typo", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b, lables: {}}\n", false},
		{"missing required", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {mode: full}\n", false},
		{"enum", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedule: x, mode: partial}\n", false},
		{"oneOf both", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedule: x, target: {bucket: a, volume: b}}\n", false},
		{"pattern", "apiVersion: storage.example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {schedule: x, size: 10Ti}\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Validate(instance(t, c.doc))
			if (err == nil) != c.valid {
				t.Errorf("valid=%v, want %v (%v)", err == nil, c.valid, err)
			}
		})
	}
}

// Schemas that would not compile are repaired, not emitted: empty required lists go, and
// patterns RE2 cannot compile (ECMA lookahead) are dropped.
func TestConverterKeepsSchemasCompilable(t *testing.T) {
	in := map[string]any{"type": "object", "required": []any{}, "properties": map[string]any{
		"a": map[string]any{"type": "string", "pattern": "^(?!x).*$"},
		"b": map[string]any{"type": "object", "required": []any{}, "properties": map[string]any{"c": map[string]any{"type": "string"}}},
	}}
	out := crdRoot(in, nil, true)
	b, _ := json.Marshal(out)
	if err := Compile(b); err != nil {
		t.Fatalf("does not compile: %v\n%s", err, b)
	}
	if bytes.Contains(b, []byte(`"required":[]`)) || bytes.Contains(b, []byte("?!")) {
		t.Errorf("kept an empty required or a lookahead pattern: %s", b)
	}
	var ws []CRDSchema
	dir := t.TempDir()
	ws = append(ws, CRDSchema{GVK: GVK{"x.io", "v1", "Bad"}, Schema: map[string]any{"type": 5}})
	if err := WriteCRDSchemas(dir, ws); err == nil {
		t.Error("WriteCRDSchemas accepted a schema that does not compile")
	}
}

// kubeconform keeps only the group's first label in file names: networking.istio.io kinds land
// on networking.k8s.io's files.
func TestCollisionDetection(t *testing.T) {
	ix, err := LoadIndex(built(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Collisions) != 0 {
		t.Errorf("built-in collisions in 1.36.0: %v", ix.Collisions)
	}
	tests := []struct {
		gvk  GVK
		want string
	}{
		{GVK{"networking.istio.io", "v1", "NetworkPolicy"}, "networking.k8s.io/v1 NetworkPolicy"},
		{GVK{"networking.k8s.io", "v1", "NetworkPolicy"}, ""},
		{GVK{"networking.istio.io", "v1", "VirtualService"}, ""},
		{GVK{"apps.example.com", "v1", "Deployment"}, "apps/v1 Deployment"},
		{GVK{"", "v1", "Pod"}, ""},
	}
	for _, tt := range tests {
		owner, ok := ix.Collision(tt.gvk)
		got := ""
		if ok {
			got = owner.String()
		}
		if got != tt.want {
			t.Errorf("Collision(%s) = %q, want %q", tt.gvk, got, tt.want)
		}
	}
	if f := KubeconformFile(GVK{"networking.istio.io", "v1", "Gateway"}); f != "gateway-networking-v1.json" {
		t.Errorf("KubeconformFile = %s", f)
	}
}

func TestBuildErrorsAndCache(t *testing.T) {
	if _, err := Build(context.Background(), Options{K8sVersion: "latest", CacheDir: t.TempDir()}); err == nil {
		t.Error("accepted version 'latest'")
	}
	dir := built(t)
	// A second Build finds the finished dir and does not rebuild.
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)
	again, err := Build(context.Background(), Options{K8sVersion: "1.36.0", CacheDir: cacheRoot})
	if err != nil || again != dir {
		t.Fatalf("second Build = %s, %v", again, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("second Build rebuilt the dir")
	}
	// A broken spec file is an error, and leaves no half-written dir.
	bad := filepath.Join(t.TempDir(), "swagger.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	cache := t.TempDir()
	if _, err := Build(context.Background(), Options{K8sVersion: "1.99.0", CacheDir: cache, Swagger: bad}); err == nil {
		t.Error("a broken swagger.json built")
	}
	if _, err := os.Stat(Dir(cache, "1.99.0")); !os.IsNotExist(err) {
		t.Errorf("half-written schema dir left behind: %v", err)
	}
}

func dig(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, _ := m[p].(map[string]any)
		if next == nil {
			return nil
		}
		m = next
	}
	return m
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Built-in kinds of two groups that share a first label collide on one kubeconform file: the
// collision is recorded, not silently overwritten. A cache from an older generator is rebuilt.
func TestBuildSyntheticSpec(t *testing.T) {
	spec := `{"definitions": {
	  "a.Policy": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
	    "x-kubernetes-group-version-kind": [{"group": "networking.k8s.io", "version": "v1", "kind": "Policy"}]},
	  "b.Policy": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"y": {"type": "integer"}}}},
	    "x-kubernetes-group-version-kind": [{"group": "networking.istio.io", "version": "v1", "kind": "Policy"}]},
	  "c.Shared": {"type": "object", "properties": {"z": {"type": "string"}},
	    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Shared"}, {"group": "apps", "version": "v1", "kind": "Shared"}]}
	}}`
	sw := filepath.Join(t.TempDir(), "swagger.json")
	if err := os.WriteFile(sw, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	var lines []string
	dir, err := Build(context.Background(), Options{K8sVersion: "1.2.3", CacheDir: cache, Swagger: sw, Progress: func(s string) { lines = append(lines, s) }})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := LoadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Collisions) != 1 || !strings.Contains(ix.Collisions[0], "policy-networking-v1.json") {
		t.Errorf("collisions = %v", ix.Collisions)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "collision") {
		t.Errorf("collision not reported in progress: %v", lines)
	}
	for _, f := range []string{"shared-v1.json", "shared-apps-v1.json", "policy-networking-v1.json"} {
		if _, err := os.Stat(filepath.Join(dir, VersionDir("1.2.3", true), f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	// Pretend the dir was built by an older generator: Build must rebuild it.
	ix.Generator = generatorVersion - 1
	b, _ := json.Marshal(ix)
	os.WriteFile(filepath.Join(dir, indexFile), b, 0o644)
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	if _, err := Build(context.Background(), Options{K8sVersion: "1.2.3", CacheDir: cache, Swagger: sw}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Error("stale cache was not rebuilt")
	}
	if ix, err := LoadIndex(dir); err != nil || ix.Generator != generatorVersion {
		t.Errorf("index after rebuild: %+v %v", ix, err)
	}
}
