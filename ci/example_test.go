package ci_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The example module examples/scan-own-build imports Tollgate (`dagger install`) and scans its
// own container. Its generated bindings are committed, like the main module's (Dagger's
// recommended practice), so `go test ./ci` builds it with nothing from outside the repository.
// They come from the core schema a module sees (shared/dagger/introspection-v0.21.8.json, beside
// codegen.sh) plus Tollgate's part of the schema, captured from a real engine into ci/testdata and
// kept honest by TestTollgateAPIFragmentCurrent; TestExampleBindingsCurrent keeps the committed
// bindings in step with that fragment (bindings_test.go).
const (
	exampleDir      = "../examples/scan-own-build"
	apiFragment     = "testdata/tollgate-api-v0.21.8.json"
	daggerVersion   = "v0.21.8"
	exampleModule   = "myapp"
	tollgateTypePfx = "Tollgate"
)

type schemaDoc struct {
	Schema        schema          `json:"__schema"`
	SchemaVersion json.RawMessage `json:"__schemaVersion,omitempty"`
}

type schema struct {
	QueryType        json.RawMessage `json:"queryType"`
	MutationType     json.RawMessage `json:"mutationType"`
	SubscriptionType json.RawMessage `json:"subscriptionType"`
	Types            []schemaType    `json:"types"`
	Directives       json.RawMessage `json:"directives"`
}

// schemaType keeps every key of an introspected type; fields are decoded for filtering.
type schemaType struct {
	raw    map[string]json.RawMessage
	Name   string
	Fields []schemaField
}

type schemaField struct {
	raw  json.RawMessage
	Name string
	Args []struct {
		Name string `json:"name"`
	} `json:"args"`
}

func (t *schemaType) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &t.raw); err != nil {
		return err
	}
	if err := json.Unmarshal(t.raw["name"], &t.Name); err != nil {
		return err
	}
	var fields []json.RawMessage
	if f, ok := t.raw["fields"]; ok && string(f) != "null" {
		if err := json.Unmarshal(f, &fields); err != nil {
			return err
		}
	}
	for _, f := range fields {
		var sf schemaField
		if err := json.Unmarshal(f, &sf); err != nil {
			return err
		}
		sf.raw = f
		t.Fields = append(t.Fields, sf)
	}
	return nil
}

func (t schemaType) MarshalJSON() ([]byte, error) {
	out := map[string]json.RawMessage{}
	for k, v := range t.raw {
		out[k] = v
	}
	if _, ok := t.raw["fields"]; ok && t.Fields != nil {
		var fields []json.RawMessage
		for _, f := range t.Fields {
			fields = append(fields, f.raw)
		}
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, err
		}
		out["fields"] = b
	}
	return json.Marshal(out)
}

func readSchema(t *testing.T, path string) *schemaDoc {
	t.Helper()
	var d schemaDoc
	if err := json.Unmarshal(read(t, path), &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &d
}

// tollgatePart is Tollgate's part of a schema: its types (Tollgate*, their IDs) and the fields
// it adds to the types the engine extends for a dependency (Query: tollgate, loadTollgate*FromID).
func tollgatePart(full, core *schemaDoc) *schemaDoc {
	coreFields := map[string]map[string]bool{}
	for _, ty := range core.Schema.Types {
		coreFields[ty.Name] = map[string]bool{}
		for _, f := range ty.Fields {
			coreFields[ty.Name][f.Name] = true
		}
	}
	out := &schemaDoc{}
	for _, ty := range full.Schema.Types {
		switch {
		case strings.HasPrefix(ty.Name, tollgateTypePfx):
			out.Schema.Types = append(out.Schema.Types, ty)
		case coreFields[ty.Name] != nil:
			var added []schemaField
			for _, f := range ty.Fields {
				if !coreFields[ty.Name][f.Name] && strings.Contains(strings.ToLower(f.Name), "tollgate") {
					added = append(added, f)
				}
			}
			if len(added) > 0 {
				ty.Fields = added
				out.Schema.Types = append(out.Schema.Types, ty)
			}
		}
	}
	return out
}

// merged is the core schema with Tollgate's part added: the schema the example module sees.
func merged(core, part *schemaDoc) *schemaDoc {
	out := *core
	out.Schema.Types = slices.Clone(core.Schema.Types)
	for _, pt := range part.Schema.Types {
		i := slices.IndexFunc(out.Schema.Types, func(ct schemaType) bool { return ct.Name == pt.Name })
		if i < 0 {
			out.Schema.Types = append(out.Schema.Types, pt)
			continue
		}
		ct := out.Schema.Types[i]
		ct.Fields = append(slices.Clone(ct.Fields), pt.Fields...)
		out.Schema.Types[i] = ct
	}
	return &out
}

// UPDATE_TOLLGATE_API=captured.json go test ./ci -run TestTollgateAPIFragmentCurrent rewrites
// the fragment from a schema captured on an engine (see examples/scan-own-build/README.md).
func TestTollgateAPIFragmentCurrent(t *testing.T) {
	if src := os.Getenv("UPDATE_TOLLGATE_API"); src != "" {
		shared := requireShared(t, "UPDATE_TOLLGATE_API subtracts the core schema from the captured one")
		core := readSchema(t, filepath.Join(shared, coreSchemaFile))
		part := tollgatePart(readSchema(t, src), core)
		b, err := json.MarshalIndent(part, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(apiFragment, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	part := readSchema(t, apiFragment)
	types := map[string]schemaType{}
	for _, ty := range part.Schema.Types {
		types[ty.Name] = ty
	}
	if q, ok := types["Query"]; !ok || !slices.ContainsFunc(q.Fields, func(f schemaField) bool { return f.Name == "tollgate" }) {
		t.Fatalf("%s has no Query.tollgate constructor", apiFragment)
	}
	// Every function and field of the module's objects is in the fragment with the same
	// arguments, and the fragment has nothing the module lacks: else regenerate it.
	api := moduleAPI(t)
	for goType, members := range api {
		ty, ok := types[tollgateTypePfx+strings.TrimPrefix(goType, "Tollgate")]
		if !ok {
			t.Errorf("%s: no type for %s; regenerate it on an engine", apiFragment, goType)
			continue
		}
		var got []string
		for _, f := range ty.Fields {
			if f.Name == "id" {
				continue
			}
			sig := f.Name + "("
			for _, a := range f.Args {
				sig += a.Name + ","
			}
			got = append(got, sig+")")
		}
		slices.Sort(got)
		slices.Sort(members)
		if !slices.Equal(got, members) {
			t.Errorf("%s is stale for %s (regenerate it on an engine):\n fragment: %v\n module:   %v", apiFragment, goType, got, members)
		}
	}
	// The constructor's arguments too.
	ctor := ""
	for _, f := range types["Query"].Fields {
		if f.Name == "tollgate" {
			for _, a := range f.Args {
				ctor += a.Name + ","
			}
		}
	}
	if want := strings.Join(moduleConstructorArgs(t), ",") + ","; ctor != want {
		t.Errorf("%s: constructor args %q, module has %q", apiFragment, ctor, want)
	}
}

// moduleAPI reads the module's Go source: for each object type, "name(arg,...)" of every exported
// method (ctx left out) and every exported field without +private, in Dagger's names.
func moduleAPI(t *testing.T) map[string][]string {
	t.Helper()
	api := map[string][]string{}
	objects := map[string]bool{}
	eachDecl(t, func(d ast.Decl) {
		gd, ok := d.(*ast.GenDecl)
		if !ok {
			return
		}
		for _, spec := range gd.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			objects[ts.Name.Name] = true
			api[ts.Name.Name] = append(api[ts.Name.Name], []string{}...)
			for _, fl := range st.Fields.List {
				if strings.Contains(fl.Doc.Text(), "+private") {
					continue
				}
				for _, n := range fl.Names {
					if n.IsExported() {
						api[ts.Name.Name] = append(api[ts.Name.Name], lowerCamel(n.Name)+"()")
					}
				}
			}
		}
	})
	eachDecl(t, func(d ast.Decl) {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || !fd.Name.IsExported() {
			return
		}
		recv := fd.Recv.List[0].Type
		if s, ok := recv.(*ast.StarExpr); ok {
			recv = s.X
		}
		id, ok := recv.(*ast.Ident)
		if !ok || !objects[id.Name] {
			return
		}
		sig := lowerCamel(fd.Name.Name) + "("
		for _, p := range params(fd) {
			sig += p + ","
		}
		api[id.Name] = append(api[id.Name], sig+")")
	})
	// Objects are the module's main object and the types its functions return.
	for name := range api {
		if name != "Tollgate" && !slices.Contains([]string{"StageReport", "Finding", "SbomResult", "RunReport"}, name) {
			delete(api, name)
		}
	}
	return api
}

func moduleConstructorArgs(t *testing.T) []string {
	var args []string
	eachDecl(t, func(d ast.Decl) {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "New" {
			args = params(fd)
		}
	})
	return args
}

// params are a function's Dagger argument names: context.Context is the runtime's.
func params(fd *ast.FuncDecl) []string {
	var out []string
	for _, p := range fd.Type.Params.List {
		if sel, ok := p.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Context" {
			continue
		}
		for _, n := range p.Names {
			out = append(out, lowerCamel(n.Name))
		}
	}
	return out
}

func eachDecl(t *testing.T, f func(ast.Decl)) {
	t.Helper()
	files, _ := filepath.Glob("../*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "dagger.gen.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			f(d)
		}
	}
}

// lowerCamel is Dagger's name for a Go identifier (ResultJSON -> resultJson, Sbom -> sbom).
func lowerCamel(s string) string {
	r := []rune(s)
	var words []string
	start := 0
	for i := 1; i < len(r); i++ {
		// A capital starts a word after a lower-case letter, or ends a run of capitals when a
		// lower-case letter follows it (HTTPServer -> HTTP Server), as strcase does.
		if unicode.IsUpper(r[i]) && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) {
			words = append(words, string(r[start:i]))
			start = i
		}
	}
	words = append(words, string(r[start:]))
	for i, w := range words {
		w = strings.ToLower(w)
		if i > 0 && w != "" {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		words[i] = w
	}
	return strings.Join(words, "")
}
