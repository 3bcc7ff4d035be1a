//go:build daggerunit

package main

import (
	"bufio"
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

// hiddenQueryNames are Query fields the v0.21.8 CLI hides from `dagger call` and `dagger
// functions` (dagql/dagui/opts.go ShouldSkipFunction, "Query": SDK-only fields, ID-only inputs,
// the entrypoint's `with` and the deprecated `pipeline`, which only an old API view serves and
// so is missing from the introspection). A module function of that name is skipped: issue 8.1.
var hiddenQueryNames = []string{"_builtinContainer", "generatedCode", "currentFunctionCall", "currentModule",
	"typeDef", "sourceMap", "function", "cacheVolume", "setSecret", "with", "pipeline"}

const queryFieldsFile = "testdata/dagger/query-fields-v0.21.8.txt"

// Called with -m or installed as a toolchain, the module is an entrypoint: its main object's
// functions and fields become Query fields, so a name a core field (or a hidden one) already has
// is unusable from `dagger call`.
func TestModuleNamesClearOfCore(t *testing.T) {
	taken := map[string]bool{}
	for _, n := range append(readQueryFields(t), hiddenQueryNames...) {
		taken[n] = true
	}
	funcs, fields := mainObjectAPI(t)
	if len(funcs) < 5 {
		t.Fatalf("found only %v: the parser does not see the module's functions", funcs)
	}
	for _, n := range append(funcs, fields...) {
		if taken[gqlName(n)] {
			t.Errorf("%s (%s) is a core Query field or a name the CLI hides: rename it", n, gqlName(n))
		}
	}
	// issue 8: config and source were callable; the constructor's inputs stay private.
	if len(fields) > 0 {
		t.Errorf("the main object exposes fields %v: mark them // +private", fields)
	}
	for _, want := range []string{"Run", "Lint", "Sbom", "Scan", "Gates"} {
		if !slices.Contains(funcs, want) {
			t.Errorf("function %s not found among %v", want, funcs)
		}
	}
}

// The committed list is the introspection's Query type, whenever the schema file is at hand
// (../shared/dagger beside the repository, or $DAGGER_INTROSPECTION).
func TestQueryFieldsListCurrent(t *testing.T) {
	path := os.Getenv("DAGGER_INTROSPECTION")
	if path == "" {
		path = filepath.Join("..", "shared", "dagger", "introspection-v0.21.8.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no introspection schema at %s (set DAGGER_INTROSPECTION): %v", path, err)
	}
	var doc struct {
		Schema *struct {
			Types []struct {
				Name   string
				Fields []struct{ Name string }
			}
		} `json:"__schema"`
		Data struct {
			Schema *struct {
				Types []struct {
					Name   string
					Fields []struct{ Name string }
				}
			} `json:"__schema"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Schema
	if s == nil {
		s = doc.Data.Schema
	}
	var want []string
	for _, ty := range s.Types {
		if ty.Name == "Query" {
			for _, f := range ty.Fields {
				want = append(want, f.Name)
			}
		}
	}
	slices.Sort(want)
	if got := readQueryFields(t); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("%s is stale: regenerate it from %s (%d fields there, %d here)", queryFieldsFile, path, len(want), len(got))
	}
}

func readQueryFields(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(queryFieldsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// mainObjectAPI reads the module's source as Dagger's Go SDK does: exported methods of Tollgate
// become functions, exported fields without +private become fields.
func mainObjectAPI(t *testing.T) (funcs, fields []string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "dagger.gen.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || !d.Name.IsExported() {
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.Name == "Tollgate" {
					funcs = append(funcs, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok || ts.Name.Name != "Tollgate" {
						continue
					}
					for _, fl := range ts.Type.(*ast.StructType).Fields.List {
						if strings.Contains(fl.Doc.Text(), "+private") {
							continue
						}
						for _, n := range fl.Names {
							if n.IsExported() {
								fields = append(fields, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return funcs, fields
}

// gqlName is Dagger's field name for a Go name, strcase.ToLowerCamel: Sbom -> sbom, ImageRef ->
// imageRef, SBOM -> sbom, ResultJSON -> resultJson.
func gqlName(goName string) string {
	r := []rune(goName)
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

func TestGQLName(t *testing.T) {
	for in, want := range map[string]string{"Sbom": "sbom", "ImageRef": "imageRef", "SBOM": "sbom", "HTTPServer": "httpServer", "Run": "run", "Pipeline": "pipeline", "ResultJSON": "resultJson", "OfflineDb": "offlineDb"} {
		if got := gqlName(in); got != want {
			t.Errorf("gqlName(%q) = %q, want %q", in, got, want)
		}
	}
}
