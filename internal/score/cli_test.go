package score

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

	"github.com/tollgate-dev/tollgate/internal/tools"
)

// The exec-level tests run the real `tollgate` binary, as a user or CI script would, and read
// its JSON output and exit code.

var cliBuild struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	tools.EnsureForTests("kube-score") // built into the shared tool cache, outside the test timeout
	code := m.Run()
	if cliBuild.path != "" {
		os.RemoveAll(filepath.Dir(cliBuild.path))
	}
	os.Exit(code)
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

type cliReport struct {
	Passed   bool `json:"passed"`
	ExitCode int  `json:"exit_code"`
	Stages   []struct {
		Stage    string `json:"stage"`
		Status   string `json:"status"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			File     string `json:"file"`
			Line     int    `json:"line"`
			Resource string `json:"resource"`
		} `json:"findings"`
		Suppressed []struct {
			Rule string `json:"rule"`
		} `json:"suppressed"`
		ErrorKind string `json:"error_kind"`
	} `json:"stages"`
}

// runCLI runs `tollgate score ARGS --format json` in dir and returns the exit code and report.
func runCLI(t *testing.T, dir, cacheDir string, args ...string) (int, cliReport, string) {
	t.Helper()
	full := append([]string{"score"}, args...)
	full = append(full, "--format", "json", "--out", "", "--progress", "none", "--no-install", "--cache-dir", cacheDir)
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
	if strings.Contains(stderr.String(), `unknown command "score"`) {
		t.Fatal("tollgate has no score command: register score.Stage() in internal/pipeline/registry.go")
	}
	var rep cliReport
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
		}
	}
	return code, rep, stderr.String()
}

// TestCLI proves the score gate through the CLI both ways: exit 0 on the good set, 1 with the
// finding in the JSON on each bad set, 2 on garbage input, 3 when kube-score is unusable.
func TestCLI(t *testing.T) {
	kubeScore(t) // fail early with the install hint
	cache := tools.DefaultCacheDir()
	dir := fixturesDir(t)
	cases := []struct {
		set  string
		code int
		rule string
	}{
		{"good", 0, ""},
		{"bad-no-seccomp", 0, "container-seccomp-profile"}, // MEDIUM: below the default HIGH gate
		{"ignore-annotation", 0, ""},
		{"bad-run-as-root", 1, "container-security-context-user-group-id"},
		{"bad-writable-root-fs", 1, "container-security-context-readonlyrootfilesystem"},
		{"bad-privileged", 1, "container-security-context-privileged"},
		{"bad-no-resources", 1, "container-resources"},
		{"bad-no-probes", 1, "pod-probes"},
		{"bad-no-networkpolicy", 1, "pod-networkpolicy"},
		{"bad-networkpolicy-mismatch", 1, "networkpolicy-targets-pod"},
		{"bad-latest-tag", 1, "container-image-tag"},
		{"bad-pull-policy", 1, "container-image-pull-policy"},
	}
	for _, c := range cases {
		t.Run(c.set, func(t *testing.T) {
			t.Parallel()
			code, rep, stderr := runCLI(t, dir, cache, c.set)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, c.code, stderr)
			}
			if len(rep.Stages) != 1 || rep.Stages[0].Stage != "score" || rep.ExitCode != c.code {
				t.Fatalf("report = %+v", rep)
			}
			st := rep.Stages[0]
			found := false
			for _, f := range st.Findings {
				if f.File != filepath.Join(c.set, "app.yaml") || f.Line <= 0 || f.Resource == "" {
					t.Errorf("finding %+v lacks file, line or resource", f)
				}
				found = found || f.Rule == c.rule
			}
			if c.rule != "" && !found {
				t.Fatalf("no %s finding in %+v", c.rule, st.Findings)
			}
			if c.rule == "" && len(st.Findings) != 0 {
				t.Fatalf("findings on a passing set: %+v", st.Findings)
			}
			if c.set == "ignore-annotation" && (len(st.Suppressed) != 1 || st.Suppressed[0].Rule != "container-security-context-readonlyrootfilesystem") {
				t.Fatalf("suppressed = %+v, want the annotated check", st.Suppressed)
			}
		})
	}

	t.Run("garbage input", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "broken.yaml"), []byte("apiVersion: v1\nkind: Service\n---\nkind: [oops\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, rep, stderr := runCLI(t, tmp, cache, "broken.yaml")
		if code != 2 || !strings.Contains(stderr, "broken.yaml") {
			t.Fatalf("exit %d, stderr %q; want 2 naming broken.yaml", code, stderr)
		}
		if len(rep.Stages) == 1 && rep.Stages[0].ErrorKind != "input" {
			t.Fatalf("error kind = %q, want input", rep.Stages[0].ErrorKind)
		}
	})

	t.Run("unusable kube-score", func(t *testing.T) {
		t.Parallel()
		// A cache whose kube-score is not the pinned build: the stage must fail closed (exit 3).
		fake := t.TempDir()
		bin := filepath.Join(fake, "tools", "kube-score", "v1.20.0", "kube-score")
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, []byte("#!/bin/sh\necho '[]'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		code, rep, stderr := runCLI(t, dir, fake, "bad-latest-tag")
		if code != 3 {
			t.Fatalf("exit %d, want 3\nstderr: %s", code, stderr)
		}
		if len(rep.Stages) != 1 || rep.Stages[0].Status != "error" || rep.Stages[0].ErrorKind != "tool" {
			t.Fatalf("report = %+v", rep)
		}
	})
}

// TestGCPaceSetBeforeHeavyInits checks that the binary sets its GC pace (internal/gctune) before
// the package initialisers that allocate most (JSON Schema meta-schemas, Kubernetes API
// registrations): an import added to gctune would delay its init past them and cost every
// command, `tollgate score` included, a few milliseconds of collection at start.
func TestGCPaceSetBeforeHeavyInits(t *testing.T) {
	cmd := exec.Command(tollgateCLI(t), "--help")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tollgate --help: %v\n%s", err, stderr.String())
	}
	order := map[string]int{}
	for i, line := range strings.Split(stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i + 1
		}
	}
	tune := order["github.com/tollgate-dev/tollgate/internal/gctune"]
	if tune == 0 {
		t.Fatalf("internal/gctune did not initialise:\n%s", tools.LastLines(stderr.Bytes(), 20))
	}
	for _, heavy := range []string{"github.com/santhosh-tekuri/jsonschema/v6", "k8s.io/client-go/kubernetes/scheme", "k8s.io/api/core/v1"} {
		if at := order[heavy]; at == 0 || at < tune {
			t.Errorf("%s initialises at line %d, internal/gctune at %d: the pace must be set first", heavy, at, tune)
		}
	}
}
