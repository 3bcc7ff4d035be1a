package ci_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The example module's generated bindings are committed (examples/scan-own-build: dagger.gen.go,
// internal/dagger, internal/querybuilder, internal/telemetry; marked generated in
// .gitattributes), so a clean clone at any path builds it with what is committed. Keeping them
// current needs Dagger's code generator and the core schema, which live outside the repository
// (shared/dagger: codegen.sh, introspection-v0.21.8.json). Where they are, the drift check
// regenerates the bindings and compares them file by file; where they are not, it checks the
// committed bindings against the committed API fragment instead, and the test log says which
// check ran.

const coreSchemaFile = "introspection-" + daggerVersion + ".json"

// exampleGenerated are what codegen writes in the example (go.mod and go.sum: its tidy).
var exampleGenerated = []string{"dagger.gen.go", "internal/dagger", "internal/querybuilder", "internal/telemetry", "go.mod", "go.sum"}

// sharedDagger finds shared/dagger (codegen.sh and the core schema): $DAGGER_SHARED when set, which
// must then hold them, else shared/dagger beside the repository when there is one. dir is ""
// when there is none, and why says where it looked.
func sharedDagger() (dir, why string, err error) {
	missing := func(d string) string {
		for _, f := range []string{"codegen.sh", coreSchemaFile} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				return f
			}
		}
		return ""
	}
	if d := os.Getenv("DAGGER_SHARED"); d != "" {
		if m := missing(d); m != "" {
			return "", "", fmt.Errorf("DAGGER_SHARED=%s has no %s: point it at the directory holding codegen.sh and %s", d, m, coreSchemaFile)
		}
		return d, "", nil
	}
	d := filepath.Join("..", "..", "shared", "dagger")
	if m := missing(d); m != "" {
		abs, _ := filepath.Abs(d)
		return "", fmt.Sprintf("no %s in %s, beside the repository; set DAGGER_SHARED to a shared/dagger elsewhere", m, abs), nil
	}
	return d, "", nil
}

// requireShared returns shared/dagger or fails the test saying what needs it.
func requireShared(t *testing.T, what string) string {
	t.Helper()
	d, why, err := sharedDagger()
	if err != nil {
		t.Fatal(err)
	}
	if d == "" {
		t.Fatalf("%s, which needs shared/dagger: %s", what, why)
	}
	return d
}

// ensureCodegen returns the code generator that shared/dagger/codegen.sh builds (in
// $CODEGEN_CACHE, default ~/.cache/dagger-codegen), building it with that script on a scratch
// copy of the example when it is missing (the one step that needs the Go module proxy).
func ensureCodegen(shared string) (string, error) {
	cache := os.Getenv("CODEGEN_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "dagger-codegen")
	}
	bin := filepath.Join(cache, daggerVersion, "codegen")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	script, err := filepath.Abs(filepath.Join(shared, "codegen.sh"))
	if err != nil {
		return "", err
	}
	scratch, err := os.MkdirTemp("", "tollgate-codegen-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	if err := os.CopyFS(scratch, os.DirFS(exampleDir)); err != nil {
		return "", err
	}
	cmd := exec.Command("bash", script)
	var out bytes.Buffer
	cmd.Dir, cmd.Stdout, cmd.Stderr = scratch, &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Dagger's codegen with %s: %w\n%s", script, err, out.String())
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s did not build %s: %w", script, bin, err)
	}
	return bin, nil
}

// offlineEnv builds and generates with the module cache only: the proxy is never asked.
func offlineEnv() []string {
	return append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
}

// generateExample writes the example's bindings with codegen into a copy of it, from the core
// schema plus the API fragment (the schema the example sees after `dagger install`), the way
// `dagger develop` would, and returns the copy.
func generateExample(t *testing.T, shared, codegen string) string {
	t.Helper()
	core := readSchema(t, filepath.Join(shared, coreSchemaFile))
	schemaPath := filepath.Join(t.TempDir(), "schema.json")
	b, err := json.Marshal(merged(core, readSchema(t, apiFragment)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schemaPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), exampleModule)
	if err := os.CopyFS(dir, os.DirFS(exampleDir)); err != nil {
		t.Fatal(err)
	}
	for _, p := range exampleGenerated[:4] { // start clean, so a file codegen no longer writes shows
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	gen := exec.Command(codegen, "generate-module", "--introspection-json-path", schemaPath, "--lib-version", daggerVersion,
		"--module-name", exampleModule, "--module-source-path", ".", "-o", ".")
	gen.Dir, gen.Env = dir, offlineEnv()
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("codegen: %v\n%s", err, out)
	}
	return dir
}

// treeFiles lists the files under the generated paths of an example tree, with their contents.
func treeFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range exampleGenerated {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			out[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The committed bindings are current. UPDATE_EXAMPLE_BINDINGS=1 go test ./ci -run
// TestExampleBindingsCurrent rewrites them (it needs shared/dagger).
func TestExampleBindingsCurrent(t *testing.T) {
	shared, why, err := sharedDagger()
	if err != nil {
		t.Fatal(err)
	}
	if problems := bindingsMatchFragment(t, readSchema(t, apiFragment), filepath.Join(exampleDir, "internal", "dagger")); len(problems) > 0 {
		if shared == "" || os.Getenv("UPDATE_EXAMPLE_BINDINGS") == "" {
			t.Errorf("the committed bindings do not match %s (regenerate them: UPDATE_EXAMPLE_BINDINGS=1 go test ./ci -run TestExampleBindingsCurrent, with shared/dagger):\n  %s",
				apiFragment, strings.Join(problems, "\n  "))
		}
	} else {
		t.Logf("drift check: every function and argument of %s is in the committed bindings, and nothing more", apiFragment)
	}
	if shared == "" {
		if os.Getenv("UPDATE_EXAMPLE_BINDINGS") != "" {
			t.Fatalf("UPDATE_EXAMPLE_BINDINGS needs Dagger's codegen: %s", why)
		}
		t.Logf("drift check: codegen not run (%s); checked the committed bindings against the API fragment only", why)
		return
	}
	codegen, err := ensureCodegen(shared)
	if err != nil {
		t.Fatalf("shared/dagger is at %s, but Dagger's codegen could not be built: %v", shared, err)
	}
	got := treeFiles(t, generateExample(t, shared, codegen))
	want := treeFiles(t, exampleDir)
	if os.Getenv("UPDATE_EXAMPLE_BINDINGS") != "" {
		for _, p := range exampleGenerated[:4] {
			if err := os.RemoveAll(filepath.Join(exampleDir, p)); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range got {
			p := filepath.Join(exampleDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rewrote %d generated files of %s", len(got), exampleDir)
		return
	}
	var diffs []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok && !yield(k) {
				return
			}
		}
	}) {
		g, inGot := got[name]
		w, inWant := want[name]
		switch {
		case !inWant:
			diffs = append(diffs, name+": generated, not committed")
		case !inGot:
			diffs = append(diffs, name+": committed, codegen no longer writes it")
		case !bytes.Equal(g, w):
			diffs = append(diffs, name+": differs")
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("the committed bindings are not what codegen generates from %s (regenerate: UPDATE_EXAMPLE_BINDINGS=1 go test ./ci -run TestExampleBindingsCurrent):\n  %s",
			apiFragment, strings.Join(diffs, "\n  "))
	}
	t.Logf("drift check: regenerated the bindings with Dagger's codegen (%s) from %s and %s: identical to the %d committed files",
		codegen, filepath.Join(shared, coreSchemaFile), apiFragment, len(want))
}

// bindingsMatchFragment compares the Go bindings in dir with the API fragment: every field of a
// Tollgate type, and every field the fragment adds to a core type, is a method selecting it with
// exactly the fragment's arguments, and the bindings select no Tollgate field the fragment lacks.
func bindingsMatchFragment(t *testing.T, frag *schemaDoc, dir string) []string {
	t.Helper()
	bound := boundFields(t, dir)
	var problems []string
	for _, ty := range frag.Schema.Types {
		for _, f := range ty.Fields {
			args, ok := bound[ty.Name][f.Name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: no method in the bindings", ty.Name, f.Name))
				continue
			}
			var want []string
			for _, a := range f.Args {
				want = append(want, a.Name)
			}
			slices.Sort(want)
			if !slices.Equal(args, want) {
				problems = append(problems, fmt.Sprintf("%s.%s: bindings pass %v, the fragment has %v", ty.Name, f.Name, args, want))
			}
		}
		for name := range bound[ty.Name] {
			if !strings.HasPrefix(ty.Name, tollgateTypePfx) && !strings.Contains(strings.ToLower(name), "tollgate") {
				continue // a core field, not Tollgate's
			}
			if !slices.ContainsFunc(ty.Fields, func(f schemaField) bool { return f.Name == name }) {
				problems = append(problems, fmt.Sprintf("%s.%s: in the bindings, not in the fragment", ty.Name, name))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// boundFields reads the generated Go bindings: for each receiver type, the GraphQL field each
// method selects (its first Select) and the arguments it can pass (its Arg calls), sorted.
func boundFields(t *testing.T, dir string) map[string]map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{} // no files: every field is reported missing
	for _, file := range files {
		af, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Body == nil {
				continue
			}
			recv := fd.Recv.List[0].Type
			if s, ok := recv.(*ast.StarExpr); ok {
				recv = s.X
			}
			id, ok := recv.(*ast.Ident)
			if !ok {
				continue
			}
			field := ""
			args := []string{}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				lit, isLit := call.Args[0].(*ast.BasicLit)
				if !ok || !isLit || lit.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				switch sel.Sel.Name {
				case "Select":
					// The method's own field is its first Select; later ones select into the
					// result (e.g. the id of each element of a list).
					if field == "" {
						field = v
					}
				case "Arg":
					if !slices.Contains(args, v) {
						args = append(args, v)
					}
				}
				return true
			})
			if field == "" {
				continue
			}
			slices.Sort(args)
			if out[id.Name] == nil {
				out[id.Name] = map[string][]string{}
			}
			out[id.Name][field] = args
		}
	}
	return out
}

// The fragment check can fail: an argument or a function the bindings lack is reported, and so
// is one the bindings have and the fragment does not.
func TestBindingsMatchFragmentFails(t *testing.T) {
	bindings := filepath.Join(exampleDir, "internal", "dagger")
	frag := readSchema(t, apiFragment)
	if p := bindingsMatchFragment(t, frag, bindings); len(p) > 0 {
		t.Skipf("the committed bindings do not match the fragment (TestExampleBindingsCurrent reports it): %v", p)
	}
	mutate := func(f func(*schemaType) bool) *schemaDoc {
		var d schemaDoc
		b, _ := json.Marshal(frag)
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for i := range d.Schema.Types {
			if f(&d.Schema.Types[i]) {
				return &d
			}
		}
		t.Fatal("mutation found nothing to change")
		return nil
	}
	addArg := mutate(func(ty *schemaType) bool {
		if ty.Name != "Tollgate" {
			return false
		}
		for i, f := range ty.Fields {
			if f.Name == "run" {
				f.Args = append(f.Args, struct {
					Name string `json:"name"`
				}{Name: "renamedArgument"})
				ty.Fields[i] = f
				return true
			}
		}
		return false
	})
	if p := bindingsMatchFragment(t, addArg, bindings); len(p) != 1 || !strings.Contains(p[0], "Tollgate.run") {
		t.Errorf("an argument the bindings lack: %v", p)
	}
	dropFn := mutate(func(ty *schemaType) bool {
		if ty.Name != "Tollgate" {
			return false
		}
		ty.Fields = slices.DeleteFunc(ty.Fields, func(f schemaField) bool { return f.Name == "sign" })
		return true
	})
	if p := bindingsMatchFragment(t, dropFn, bindings); len(p) != 1 || !strings.Contains(p[0], "Tollgate.sign: in the bindings, not in the fragment") {
		t.Errorf("a function the fragment lacks: %v", p)
	}
}

// The example builds and vets with the committed bindings, offline (its dependencies are in the
// module cache: .ci/run downloads them).
func TestExampleModuleBuilds(t *testing.T) {
	gb := read(t, filepath.Join(exampleDir, "internal", "dagger", "tollgate.gen.go"))
	for _, want := range []string{"func (r *Query) Tollgate(", "func (r *Tollgate) Scan(", "type TollgateScanOpts struct", "func (r *Tollgate) Run(", "func (r *TollgateRunReport) Published("} {
		if !strings.Contains(string(gb), want) {
			t.Errorf("committed bindings lack %q", want)
		}
	}
	dir := filepath.Join(t.TempDir(), exampleModule)
	if err := os.CopyFS(dir, os.DirFS(exampleDir)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"build", "./..."}, {"vet", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, offlineEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			hint := ""
			if bytes.Contains(out, []byte("GOPROXY=off")) {
				hint = "\nthe example's dependencies are not in the module cache: run `go -C examples/scan-own-build mod download` (.ci/run does)"
			}
			t.Fatalf("go %s in the example: %v\n%s%s", strings.Join(args, " "), err, out, hint)
		}
	}
}
