package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The exec-level tests run the real `tollgate` binary, as a user or CI script would, and read
// its JSON output and exit code.

var cliBuild struct {
	once sync.Once
	path string
	err  error
}

// tollgateCLI builds cmd/tollgate once per test binary run.
func tollgateCLI(t *testing.T) string {
	t.Helper()
	cliBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "tollgate-cli-*")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.path = filepath.Join(dir, "tollgate")
		cmd := exec.Command("go", "build", "-o", cliBuild.path, "./cmd/tollgate")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBuild.err = errors.New("go build ./cmd/tollgate: " + err.Error() + "\n" + string(out))
		}
	})
	if cliBuild.err != nil {
		t.Fatal(cliBuild.err)
	}
	return cliBuild.path
}

type cliFinding struct {
	Rule     string            `json:"rule"`
	Severity string            `json:"severity"`
	Message  string            `json:"message"`
	File     string            `json:"file"`
	Line     int               `json:"line"`
	Resource string            `json:"resource"`
	Fix      string            `json:"fix"`
	Blocking bool              `json:"blocking"`
	Extra    map[string]string `json:"extra"`
}

type cliReport struct {
	Passed   bool `json:"passed"`
	ExitCode int  `json:"exit_code"`
	Stages   []struct {
		Stage      string       `json:"stage"`
		Status     string       `json:"status"`
		Error      string       `json:"error"`
		ErrorKind  string       `json:"error_kind"`
		Findings   []cliFinding `json:"findings"`
		Suppressed []cliFinding `json:"suppressed"`
	} `json:"stages"`
}

// runCLI runs `tollgate ARGS --format json` in dir and returns the exit code, report and stderr.
func runCLI(t *testing.T, dir string, args ...string) (int, cliReport, string) {
	t.Helper()
	full := append(args, "--format", "json", "--out", "", "--progress", "none", "--no-install")
	cmd := exec.Command(tollgateCLI(t), full...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep cliReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
		}
	}
	if strings.Contains(stderr.String(), "unknown command") {
		t.Fatalf("tollgate: %s", stderr.String())
	}
	return code, rep, stderr.String()
}

// TestCLIBadFixtures: each bad fixture fails the gate (exit 1) through `tollgate policy --format
// json` for exactly its constraint, on exactly its Deployment, with the file, line and a fix;
// the good fixture and the demo pass.
func TestCLIBadFixtures(t *testing.T) {
	root := repoRoot(t)
	lib, err := LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(lib, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range set.Constraints {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("fixtures", "policy", "bad", c.Name)
			code, rep, stderr := runCLI(t, root, "policy", dir)
			if code != 1 || len(rep.Stages) != 1 || rep.Stages[0].Status != "fail" {
				t.Fatalf("exit %d, report %+v, want 1 and a failed policy stage\nstderr: %s", code, rep, stderr)
			}
			fs := rep.Stages[0].Findings
			if len(fs) != 1 {
				t.Fatalf("findings = %+v, want exactly one", fs)
			}
			f := fs[0]
			if f.Rule != c.ID() || f.Resource != "Deployment/shop/web" || !f.Blocking || f.Severity != "HIGH" {
				t.Fatalf("finding = %+v, want blocking HIGH %s on Deployment/shop/web", f, c.ID())
			}
			if f.File != filepath.Join(dir, "app.yaml") || f.Line <= 1 || f.Message == "" || f.Fix == "" {
				t.Fatalf("finding %+v lacks file, line, message or fix", f)
			}
		})
	}
	for _, dir := range []string{filepath.Join("fixtures", "policy", "good"), filepath.Join("fixtures", "demo")} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			args := []string{"policy"}
			cwd := root
			if dir == filepath.Join("fixtures", "demo") {
				cwd = filepath.Join(root, dir) // with its tollgate.yaml
			} else {
				args = append(args, dir)
			}
			code, rep, stderr := runCLI(t, cwd, args...)
			if code != 0 || len(rep.Stages) != 1 || rep.Stages[0].Status != "pass" || len(rep.Stages[0].Findings) != 0 {
				t.Fatalf("exit %d, report %+v, want a clean pass\nstderr: %s", code, rep, stderr)
			}
		})
	}
}

// TestCLIFixes: the fix of a finding is YAML rooted at the document, naming the container, under
// the kind's own path to its pod spec.
func TestCLIFixes(t *testing.T) {
	root := repoRoot(t)
	code, rep, _ := runCLI(t, root, "policy", filepath.Join("fixtures", "policy", "bad", "tg-no-privileged"))
	if code != 1 || len(rep.Stages[0].Findings) != 1 {
		t.Fatalf("exit %d, %+v", code, rep)
	}
	want := "spec:\n  template:\n    spec:\n      containers:\n        - name: web\n          securityContext:\n            privileged: false"
	if got := rep.Stages[0].Findings[0].Fix; got != want {
		t.Fatalf("fix =\n%s\nwant\n%s", got, want)
	}
	code, rep, _ = runCLI(t, root, "policy", filepath.Join("fixtures", "policy", "bad", "tg-default-deny-network-policy"))
	if code != 1 || !strings.Contains(rep.Stages[0].Findings[0].Fix, "kind: NetworkPolicy") ||
		!strings.Contains(rep.Stages[0].Findings[0].Fix, "namespace: shop") {
		t.Fatalf("default-deny fix = %q", rep.Stages[0].Findings[0].Fix)
	}
}

// TestCLIPodSecurity: the upstream check IDs at restricted and baseline, the level taken from the
// Namespace among the manifests (or the flag), and an unknown level as bad input.
func TestCLIPodSecurity(t *testing.T) {
	root := repoRoot(t)
	w := filepath.Join("fixtures", "policy", "pss", "workloads.yaml")
	restricted := []string{
		"Deployment/shop/api PodSecurity/allowPrivilegeEscalation", "Deployment/shop/api PodSecurity/capabilities_restricted",
		"Deployment/shop/api PodSecurity/runAsNonRoot", "Deployment/shop/api PodSecurity/seccompProfile_restricted",
		"Pod/shop/node-agent PodSecurity/allowPrivilegeEscalation", "Pod/shop/node-agent PodSecurity/capabilities_restricted",
		"Pod/shop/node-agent PodSecurity/hostNamespaces", "Pod/shop/node-agent PodSecurity/privileged",
		"Pod/shop/node-agent PodSecurity/runAsNonRoot", "Pod/shop/node-agent PodSecurity/seccompProfile_restricted",
	}
	baseline := []string{"Pod/shop/node-agent PodSecurity/hostNamespaces", "Pod/shop/node-agent PodSecurity/privileged"}
	cases := []struct {
		name  string
		args  []string
		level string
		want  []string
	}{
		{"default restricted", []string{w}, "restricted:latest", restricted},
		{"namespace restricted", []string{w, filepath.Join("fixtures", "policy", "pss", "restricted")}, "restricted:latest", restricted},
		{"namespace baseline", []string{w, filepath.Join("fixtures", "policy", "pss", "baseline")}, "baseline:latest", baseline},
		{"flag baseline", []string{w, "--pod-security-level", "baseline"}, "baseline:latest", baseline},
		{"namespace wins over flag", []string{w, filepath.Join("fixtures", "policy", "pss", "baseline"), "--pod-security-level", "privileged"}, "baseline:latest", baseline},
		{"flag privileged", []string{w, "--pod-security-level", "privileged"}, "", nil},
		{"pinned version", []string{w, "--pod-security-level", "baseline", "--pod-security-version", "v1.25"}, "baseline:v1.25", baseline},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, rep, stderr := runCLI(t, root, append([]string{"policy", "--no-default-policies"}, c.args...)...)
			wantCode := 1
			if c.want == nil {
				wantCode = 0
			}
			if code != wantCode || len(rep.Stages) != 1 {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, wantCode, stderr)
			}
			var got []string
			for _, f := range rep.Stages[0].Findings {
				got = append(got, f.Resource+" "+f.Rule)
				if !strings.Contains(f.Message, "PodSecurity \""+c.level+"\": ") || f.Extra["pod-security-level"] != c.level || !f.Blocking {
					t.Errorf("finding %+v: want the upstream message at %s, blocking", f, c.level)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
	t.Run("unknown level in a Namespace", func(t *testing.T) {
		t.Parallel()
		code, rep, stderr := runCLI(t, root, "policy", w, filepath.Join("fixtures", "policy", "pss", "invalid"))
		if code != 2 || !strings.Contains(stderr, "fixtures/policy/pss/invalid/namespace.yaml:2:") || !strings.Contains(stderr, `"strict"`) {
			t.Fatalf("exit %d, stderr %q; want 2 naming the Namespace's file and line", code, stderr)
		}
		if len(rep.Stages) != 1 || rep.Stages[0].ErrorKind != "input" {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("unknown level on the command line", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runCLI(t, root, "policy", w, "--pod-security-level", "strict")
		if code != 2 || !strings.Contains(stderr, `"strict"`) {
			t.Fatalf("exit %d, stderr %q; want 2", code, stderr)
		}
	})
}

// TestCLIConfig: tollgate.yaml disables constraints, relaxes them to warn or dryrun (reported,
// suppressed, never blocking), changes their parameters, and names its own line when wrong.
func TestCLIConfig(t *testing.T) {
	root := repoRoot(t)
	bad := filepath.Join(root, "fixtures", "policy", "bad")
	project := func(t *testing.T, config string, fixtures ...string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tollgate.yaml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range fixtures {
			b, err := os.ReadFile(filepath.Join(bad, f, "app.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "k8s"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "k8s", f+".yaml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("warn and dryrun do not block", func(t *testing.T) {
		t.Parallel()
		dir := project(t, "version: 1\npolicy:\n  constraints:\n    tg-no-privileged: {enforcement-action: warn}\n    tg-probes: {enforcement-action: dryrun}\n",
			"tg-no-privileged", "tg-probes")
		code, rep, stderr := runCLI(t, dir, "policy")
		if code != 0 || rep.Stages[0].Status != "pass" || len(rep.Stages[0].Findings) != 0 {
			t.Fatalf("exit %d, %+v\n%s", code, rep, stderr)
		}
		got := map[string]string{}
		for _, f := range rep.Stages[0].Suppressed {
			got[f.Rule] = f.Extra["enforcementAction"]
		}
		if got["K8sTGNoPrivileged/tg-no-privileged"] != "warn" || got["K8sTGProbes/tg-probes"] != "dryrun" || len(got) != 2 {
			t.Fatalf("suppressed = %+v, want the warn and dryrun findings", rep.Stages[0].Suppressed)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		dir := project(t, "version: 1\npolicy:\n  disabled: [tg-no-privileged]\n", "tg-no-privileged")
		if code, rep, stderr := runCLI(t, dir, "policy"); code != 0 || len(rep.Stages[0].Findings) != 0 {
			t.Fatalf("exit %d, %+v\n%s", code, rep, stderr)
		}
		// The flag does the same.
		dir = project(t, "version: 1\n", "tg-no-privileged")
		if code, _, stderr := runCLI(t, dir, "policy", "--disable-constraint", "tg-no-privileged"); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("parameters", func(t *testing.T) {
		t.Parallel()
		dir := project(t, "version: 1\npolicy:\n  constraints:\n    tg-allowed-registries:\n      parameters: {registries: [registry.evil.example.com/acme]}\n",
			"tg-allowed-registries")
		if code, rep, stderr := runCLI(t, dir, "policy"); code != 0 || len(rep.Stages[0].Findings) != 0 {
			t.Fatalf("exit %d, %+v\n%s", code, rep, stderr)
		}
	})
	t.Run("severity below the gate", func(t *testing.T) {
		t.Parallel()
		dir := project(t, "version: 1\npolicy:\n  constraints:\n    tg-no-privileged: {severity: MEDIUM}\n", "tg-no-privileged")
		code, rep, stderr := runCLI(t, dir, "policy")
		if code != 0 || len(rep.Stages[0].Findings) != 1 || rep.Stages[0].Findings[0].Severity != "MEDIUM" || rep.Stages[0].Findings[0].Blocking {
			t.Fatalf("exit %d, %+v\n%s", code, rep, stderr)
		}
	})
	for _, c := range []struct{ name, config, want string }{
		{"unknown constraint", "version: 1\npolicy:\n  disabled: [tg-no-privilegd]\n", "no constraint named policy.disabled: tg-no-privilegd"},
		{"unknown action", "version: 1\npolicy:\n  constraints:\n    tg-probes:\n      enforcement-action: block\n", "tollgate.yaml:5: enforcement-action \"block\""},
		{"unknown level", "version: 1\npolicy:\n  pod-security:\n    level: strict\n", "tollgate.yaml:4: unknown Pod Security level \"strict\""},
		{"bad version", "version: 1\npolicy:\n  pod-security:\n    version: \"1.30\"\n", "tollgate.yaml:4: Pod Security version \"1.30\""},
		{"unknown key", "version: 1\npolicy:\n  constraint: {}\n", "tollgate.yaml:3: unknown key \"constraint\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := project(t, c.config, "tg-probes")
			code, _, stderr := runCLI(t, dir, "policy")
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
		})
	}
}

// TestCLIRun: `run` takes the policy stage's flags and runs it after score.
func TestCLIRun(t *testing.T) {
	root := repoRoot(t)
	code, rep, stderr := runCLI(t, root, "run", filepath.Join(root, "fixtures", "demo"), "--stages", "policy,score",
		"--pod-security-level", "baseline", "--disable-constraint", "tg-probes")
	if code != 0 || len(rep.Stages) != 2 || rep.Stages[0].Stage != "score" || rep.Stages[1].Stage != "policy" {
		t.Fatalf("exit %d, stages %+v\n%s", code, rep.Stages, stderr)
	}
}

// TestCLIBadInputAndTools: through the CLI, a broken policy under policy.paths is exit 2 naming
// its file and line, and a gator that is not the pinned build, or prints garbage, is exit 3.
func TestCLIBadInputAndTools(t *testing.T) {
	root := repoRoot(t)
	app, err := os.ReadFile(filepath.Join(root, "fixtures", "policy", "good", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	project := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		files["k8s/app.yaml"] = string(app)
		files["tollgate.yaml"] = "version: 1\npolicy:\n  paths: [security]\n"
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	regoError := "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sbad\nspec:\n  crd:\n    spec:\n      names:\n        kind: K8sBad\n" +
		"  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8sbad\n        violation[{\"msg\": msg}] {\n          msg := \n        }\n" +
		"---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sBad\nmetadata:\n  name: bad\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"rego syntax error", map[string]string{"security/bad.yaml": regoError}, "security/bad.yaml:16: gator refused ConstraintTemplate \"k8sbad\""},
		{"template missing its kind", map[string]string{"security/bad.yaml": "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sbad\nspec: {}\n"},
			"security/bad.yaml:1: ConstraintTemplate \"k8sbad\": spec.crd.spec.names.kind is required"},
		{"constraint without template", map[string]string{"security/c.yaml": "# mine\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sMissing\nmetadata:\n  name: m\n"},
			"security/c.yaml:2: Constraint K8sMissing/m: no ConstraintTemplate defines kind K8sMissing"},
		{"not YAML", map[string]string{"security/notes.yaml": "policies:\n\t- tabs are not YAML\n"}, "security/notes.yaml:2:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, rep, stderr := runCLI(t, project(t, c.files), "policy")
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, c.want)
			}
			if len(rep.Stages) != 1 || rep.Stages[0].ErrorKind != "input" {
				t.Fatalf("report %+v", rep)
			}
		})
	}
	for _, c := range []struct{ name, script, want string }{
		{"not the pinned build", "#!/bin/sh\necho null\n", "gator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			bin := filepath.Join(cache, "tools", "gator", "v3.23.1", "gator")
			if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin, []byte(c.script), 0o755); err != nil {
				t.Fatal(err)
			}
			code, rep, stderr := runCLI(t, root, "policy", filepath.Join("fixtures", "policy", "good"), "--cache-dir", cache)
			if code != 3 || len(rep.Stages) != 1 || rep.Stages[0].ErrorKind != "tool" || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, report %+v, stderr %q; want 3, a tool error", code, rep, stderr)
			}
		})
	}
}
