// Tests of the CI templates Tollgate ships (ci/github, ci/gitlab): the GitHub workflow passes
// actionlint (pinned in internal/tools as a development tool), the GitLab template validates
// against GitLab's CI schema (ci/testdata), and both run the pipeline once, install a pinned
// Dagger CLI with a checksum check, pin what they use, and call functions the module has.
package ci_test

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/tools"
)

const (
	githubWorkflow = "github/tollgate.yml"
	gitlabTemplate = "gitlab/tollgate.gitlab-ci.yml"
	gitlabSchema   = "testdata/gitlab-ci.schema.json"
)

// The pinned actionlint and Dagger's code generator, installed by TestMain before the tests
// run (the builds need the Go module proxy once; then everything runs offline).
var actionlintPath, codegenPath string

func TestMain(m *testing.M) {
	in := &tools.Installer{CacheDir: tools.DefaultCacheDir(), Progress: os.Stderr}
	t, err := tools.DevTool("actionlint")
	if err == nil && !in.Check(t).Installed {
		err = in.Install(context.Background(), t)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "actionlint is needed for these tests:", err)
		os.Exit(1)
	}
	actionlintPath = in.Path(t)
	if codegenPath, err = ensureCodegen(); err != nil {
		fmt.Fprintln(os.Stderr, "Dagger's codegen is needed for these tests:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ensureCodegen returns the codegen binary that shared/dagger/codegen.sh builds (in
// $CODEGEN_CACHE, default ~/.cache/dagger-codegen), building it with that script on a scratch
// copy of the example module when it is missing.
func ensureCodegen() (string, error) {
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
	script, err := filepath.Abs(filepath.Join(sharedDagger(), "codegen.sh"))
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
	cmd.Dir, cmd.Stdout, cmd.Stderr = scratch, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s (set DAGGER_SHARED to the shared/dagger directory): %w", script, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s did not build %s: %w", script, bin, err)
	}
	return bin, nil
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func actionlint(t *testing.T, workflow []byte) (string, error) {
	t.Helper()
	// actionlint wants the file under .github/workflows to treat it as a workflow.
	dir := t.TempDir()
	p := filepath.Join(dir, ".github", "workflows", "tollgate.yml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, workflow, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(actionlintPath, "-no-color", p)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGitHubWorkflowPassesActionlint(t *testing.T) {
	if out, err := actionlint(t, read(t, githubWorkflow)); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	// The check can fail: a broken expression and an unknown key are reported.
	broken := bytes.Replace(read(t, githubWorkflow), []byte("hashFiles('tollgate-reports/summary.md')"), []byte("hashFiles(tollgate-reports"), 1)
	broken = bytes.Replace(broken, []byte("runs-on: ubuntu-latest"), []byte("runs-on: ubuntu-latest\n    run-on: typo"), 1)
	out, err := actionlint(t, broken)
	if err == nil || !strings.Contains(out, "run-on") {
		t.Fatalf("actionlint passed a broken workflow (err %v):\n%s", err, out)
	}
}

func gitlabValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(read(t, gitlabSchema)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gitlab-ci.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("gitlab-ci.schema.json")
	if err != nil {
		t.Fatalf("compile GitLab's schema: %v", err)
	}
	return s
}

func validateGitLab(t *testing.T, s *jsonschema.Schema, template []byte) error {
	t.Helper()
	j, err := yaml.YAMLToJSON(template)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

func TestGitLabTemplateMatchesSchema(t *testing.T) {
	s := gitlabValidator(t)
	if err := validateGitLab(t, s, read(t, gitlabTemplate)); err != nil {
		t.Fatalf("%s does not match GitLab's CI schema: %v", gitlabTemplate, err)
	}
	// The check can fail: GitLab's schema rejects what GitLab would.
	for name, mutate := range map[string]func([]byte) []byte{
		"unknown job key": func(b []byte) []byte {
			return bytes.Replace(b, []byte("  stage: test\n"), []byte("  stage: test\n  scripts: [oops]\n"), 1)
		},
		"bad artifacts.when": func(b []byte) []byte { return bytes.Replace(b, []byte("when: always"), []byte("when: sometimes"), 1) },
	} {
		if err := validateGitLab(t, s, mutate(read(t, gitlabTemplate))); err == nil {
			t.Errorf("%s: the schema accepted a broken template", name)
		}
	}
}

var (
	usesLine   = regexp.MustCompile(`uses:\s*([^\s#]+)`)
	pinnedUses = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	curlPipe   = regexp.MustCompile(`curl[^\n|]*\|\s*(ba)?sh`)
	daggerRun  = regexp.MustCompile(`(?m)^\s*(- )?\|?\s*dagger\s`)
	scriptFn   = regexp.MustCompile(`\|\s*([a-z][a-zA-Z]*)`)
)

// Both templates: actions pinned by commit, a pinned Dagger CLI with a checksum check and no
// `curl | sh`, the pipeline run once per job, reports kept, and the gate enforced.
func TestTemplatesPinAndRunOnce(t *testing.T) {
	dagger := readDaggerVersion(t)
	for _, path := range []string{githubWorkflow, gitlabTemplate} {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			b := withoutComments(string(read(t, path)))
			for _, m := range usesLine.FindAllStringSubmatch(b, -1) {
				if !pinnedUses.MatchString(m[1]) {
					t.Errorf("action %s is not pinned by commit SHA", m[1])
				}
			}
			if curlPipe.MatchString(b) {
				t.Errorf("pipes a download into a shell: %s", curlPipe.FindString(b))
			}
			for _, want := range []string{`DAGGER_VERSION: "` + strings.TrimPrefix(dagger, "v") + `"`, "DAGGER_SHA256:", "sha256sum", "-c", "reports | export tollgate-reports", "| check"} {
				if !strings.Contains(b, want) {
					t.Errorf("lacks %q", want)
				}
			}
			if n := len(daggerRun.FindAllString(b, -1)); n != 1 {
				t.Errorf("runs dagger %d times; the pipeline must run once per job", n)
			}
		})
	}
}

// withoutComments drops whole-line YAML comments (which explain, e.g., that nothing is piped
// into a shell) so that only what runs is checked.
func withoutComments(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// The functions the templates' scripts call exist in the module (main object and RunReport).
func TestTemplatesCallModuleFunctions(t *testing.T) {
	fns := moduleFunctions(t)
	for _, path := range []string{githubWorkflow, gitlabTemplate} {
		b := string(read(t, path))
		start := strings.Index(b, "-c '")
		end := strings.Index(b[start+4:], "'")
		if start < 0 || end < 0 {
			t.Fatalf("%s: no dagger -c script", path)
		}
		script := b[start+4 : start+4+end]
		for _, m := range scriptFn.FindAllStringSubmatch(script, -1) {
			name := m[1]
			if name == "tollgate" || name == "export" { // the constructor, Directory.export
				continue
			}
			if !slices.Contains(fns, name) {
				t.Errorf("%s calls %q, which the module does not have (%v)", path, name, fns)
			}
		}
	}
}

// moduleFunctions lists the module's exported methods as Dagger names (lower camel case).
func moduleFunctions(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../module_*.go")
	var out []string
	for _, f := range append(files, "../main.go") {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Name.IsExported() {
				out = append(out, strings.ToLower(fd.Name.Name[:1])+fd.Name.Name[1:])
			}
		}
	}
	return out
}

func readDaggerVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`"engineVersion":\s*"([^"]+)"`).FindSubmatch(read(t, "../dagger.json"))
	if m == nil {
		t.Fatal("no engineVersion in dagger.json")
	}
	return string(m[1])
}
