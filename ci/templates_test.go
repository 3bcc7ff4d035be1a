// Tests of the CI templates Tollgate ships (ci/github, ci/gitlab): the GitHub workflow passes
// actionlint (pinned in internal/tools as a development tool), the GitLab template validates
// against GitLab's CI schema (ci/testdata), and both run the pipeline once, install a pinned
// Dagger CLI with a checksum check, pin what they use, and call functions the module has.
package ci_test

import (
	"bytes"
	"context"
	"fmt"
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

// The pinned actionlint, installed by TestMain before the tests run (its build needs the Go
// module proxy once; then everything runs offline).
var actionlintPath string

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
	os.Exit(m.Run())
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
	daggerC    = regexp.MustCompile(`(?s)dagger\s[^\n']*-c '([^']*)'`)
	flagName   = regexp.MustCompile(`--([a-z][a-z-]*)`)
)

// job is one CI job of a template: its name, what it runs (GitHub steps' run, GitLab script),
// and its definition for the rules about when it runs and what it may do.
type job struct {
	name string
	run  string
	def  map[string]any
}

// jobs reads a template's jobs. GitLab's hidden jobs (.name) are templates that others extend;
// their shared parts (before_script) install the CLI and run no pipeline.
func jobs(t *testing.T, path string) []job {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(read(t, path), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []job
	if gh, ok := doc["jobs"].(map[string]any); ok {
		for name, v := range gh {
			def, _ := v.(map[string]any)
			j := job{name: name, def: def}
			steps, _ := def["steps"].([]any)
			for _, st := range steps {
				if m, ok := st.(map[string]any); ok {
					if r, ok := m["run"].(string); ok {
						j.run += r + "\n"
					}
				}
			}
			out = append(out, j)
		}
	} else {
		for name, v := range doc {
			def, ok := v.(map[string]any)
			if !ok || strings.HasPrefix(name, ".") || def["script"] == nil {
				continue
			}
			j := job{name: name, def: def}
			lines, _ := def["script"].([]any)
			for _, l := range lines {
				j.run += fmt.Sprint(l) + "\n"
			}
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b job) int { return strings.Compare(a.name, b.name) })
	if len(out) == 0 {
		t.Fatalf("%s: no jobs", path)
	}
	return out
}

// Both templates: actions pinned by commit, a pinned Dagger CLI with a checksum check and no
// `curl | sh`, and in every job the pipeline run once (one dagger invocation: one session), its
// reports kept and the gate enforced.
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
			for _, want := range []string{`DAGGER_VERSION: "` + strings.TrimPrefix(dagger, "v") + `"`, "DAGGER_SHA256:", "sha256sum", "-c"} {
				if !strings.Contains(b, want) {
					t.Errorf("lacks %q", want)
				}
			}
			for _, j := range jobs(t, path) {
				run := withoutComments(j.run)
				if n := len(daggerRun.FindAllString(run, -1)); n != 1 {
					t.Errorf("job %s runs dagger %d times; the pipeline must run once per job", j.name, n)
				}
				for _, want := range []string{"reports | export tollgate-reports", "| check"} {
					if !strings.Contains(run, want) {
						t.Errorf("job %s lacks %q", j.name, want)
					}
				}
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

// call is one function call in a dagger shell script, with the flags it passes.
type call struct {
	fn    string
	flags []string
}

// scriptCalls reads the function calls of a `dagger -c` script: each pipeline element
// (`tollgate | run --flag=... | check`, also inside $(...)) is a function and its flags.
func scriptCalls(script string) []call {
	s := strings.ReplaceAll(script, "\\\n", " ")
	s = strings.NewReplacer("$(", " | ", ")", " ", "\n", " | ").Replace(s)
	var out []call
	for _, seg := range strings.Split(s, "|") {
		f := strings.Fields(seg)
		if len(f) == 0 || strings.HasPrefix(f[0], "$") || strings.HasSuffix(f[0], "=") {
			continue // a variable ($r) or an assignment (r=)
		}
		c := call{fn: f[0]}
		for _, m := range flagName.FindAllStringSubmatch(strings.Join(f[1:], " "), -1) {
			c.flags = append(c.flags, m[1])
		}
		out = append(out, c)
	}
	return out
}

// The templates' scripts call functions the module has (main object, RunReport, StageReport),
// with arguments those functions take: a renamed argument would fail only on a real CI run.
func TestTemplatesCallModuleFunctions(t *testing.T) {
	args := map[string]map[string]bool{}
	for goType, members := range moduleAPI(t) {
		if goType == "Finding" || goType == "SbomResult" {
			continue
		}
		for _, sig := range members {
			name, rest, _ := strings.Cut(sig, "(")
			if args[name] == nil {
				args[name] = map[string]bool{}
			}
			for _, a := range strings.Split(strings.TrimSuffix(rest, ")"), ",") {
				if a != "" {
					args[name][a] = true
				}
			}
		}
	}
	for _, path := range []string{githubWorkflow, gitlabTemplate} {
		scripts := daggerC.FindAllStringSubmatch(string(read(t, path)), -1)
		if len(scripts) == 0 {
			t.Fatalf("%s: no dagger -c script", path)
		}
		for _, m := range scripts {
			calls := scriptCalls(m[1])
			if len(calls) < 3 {
				t.Fatalf("%s: read %d calls from %q", path, len(calls), m[1])
			}
			for _, c := range calls {
				if c.fn == "tollgate" || c.fn == "export" { // the constructor, Directory.export
					continue
				}
				known, ok := args[c.fn]
				if !ok {
					t.Errorf("%s calls %q, which the module does not have", path, c.fn)
					continue
				}
				for _, f := range c.flags {
					if !known[kebabToCamel(f)] {
						t.Errorf("%s: %s has no argument --%s", path, c.fn, f)
					}
				}
			}
		}
	}
}

// kebabToCamel is the Dagger argument a CLI flag names (--registry-username: registryUsername).
func kebabToCamel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func TestScriptCalls(t *testing.T) {
	got := scriptCalls("\n  r=$(tollgate | run --build --repository=$REPO \\\n    ${K:+--kubeconfig=env://K})\n  $r | reports | export out\n  $r | check\n")
	want := []call{{fn: "tollgate"}, {fn: "run", flags: []string{"build", "repository", "kubeconfig"}}, {fn: "reports"}, {fn: "export"}, {fn: "check"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scriptCalls = %v, want %v", got, want)
	}
	if kebabToCamel("certificate-oidc-issuer") != "certificateOidcIssuer" || kebabToCamel("build") != "build" {
		t.Error("kebabToCamel")
	}
}

// The release job: only on the default branch, never beside the gates job (each event runs the
// pipeline once); it builds, pushes, signs keylessly with the CI's OIDC token, verifies against
// that identity before deploying, and every secret reaches the module as a Dagger secret
// (env://NAME), never expanded into an argument.
func TestTemplatesRelease(t *testing.T) {
	for _, path := range []string{githubWorkflow, gitlabTemplate} {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			js := jobs(t, path)
			if len(js) != 2 {
				t.Fatalf("want a gates job and a release job, got %d jobs", len(js))
			}
			gates, release := js[0], js[1]
			if !strings.Contains(release.name, "release") {
				gates, release = release, gates
			}
			run := withoutComments(release.run)
			for _, want := range []string{"--build", "--repository=", "--oidc-token=env://SIGSTORE_ID_TOKEN", "--certificate-identity=",
				"--certificate-oidc-issuer=", "--registry-password=env://", "--kubeconfig=env://KUBECONFIG_DATA", "--source-revision=", "--builder-id="} {
				if !strings.Contains(run, want) {
					t.Errorf("release job lacks %q", want)
				}
			}
			for _, secret := range []string{"$KUBECONFIG_DATA}", "$KUBECONFIG_DATA ", "$SIGSTORE_ID_TOKEN", "$REGISTRY_PASSWORD", "$CI_REGISTRY_PASSWORD", "secrets."} {
				if strings.Contains(run, secret) {
					t.Errorf("release job expands a secret into its command line: %q", secret)
				}
			}
			if strings.Contains(withoutComments(gates.run), "--oidc-token") || strings.Contains(withoutComments(gates.run), "--kubeconfig") {
				t.Error("the gates job releases")
			}
			def := fmt.Sprint(release.def)
			gdef := fmt.Sprint(gates.def)
			if filepath.Dir(path) == "github" {
				perms := fmt.Sprint(release.def["permissions"])
				if !strings.Contains(perms, "id-token:write") || !strings.Contains(perms, "packages:write") {
					t.Errorf("release permissions %s: want id-token: write and packages: write", perms)
				}
				if fmt.Sprint(gates.def["permissions"]) == perms || strings.Contains(fmt.Sprint(gates.def["permissions"]), "id-token") {
					t.Error("the gates job may mint OIDC tokens")
				}
				if !strings.Contains(def, "github.ref_name == github.event.repository.default_branch") ||
					!strings.Contains(gdef, "github.ref_name != github.event.repository.default_branch") {
					t.Errorf("jobs do not split on the default branch:\n release if: %v\n gates if: %v", release.def["if"], gates.def["if"])
				}
				return
			}
			if !strings.Contains(def, "id_tokens:map[SIGSTORE_ID_TOKEN:map[aud:sigstore]]") {
				t.Errorf("release job has no sigstore id_token: %v", release.def["id_tokens"])
			}
			if !strings.Contains(def, "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH") || !strings.Contains(gdef, "when:never") {
				t.Errorf("jobs do not split on the default branch:\n release rules: %v\n gates rules: %v", release.def["rules"], gates.def["rules"])
			}
		})
	}
}

func readDaggerVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`"engineVersion":\s*"([^"]+)"`).FindSubmatch(read(t, "../dagger.json"))
	if m == nil {
		t.Fatal("no engineVersion in dagger.json")
	}
	return string(m[1])
}
