package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// badDocs is the tg-no-privileged bad fixture: one deny violation with the library.
func badDocs(t *testing.T) []manifest.Document {
	t.Helper()
	docs, err := manifest.Load(context.Background(), []string{"fixtures/policy/bad/tg-no-privileged"}, repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func librarySet(t *testing.T, docs []manifest.Document) *Set {
	t.Helper()
	lib, err := LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(lib, nil, docs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFailClosed runs stand-ins for gator that crash, hang or print something other than gator's
// output: each must be a tool error (exit 3), never a pass. The stand-ins replay real gator output
// (taken from a real run first) broken in one way each.
func TestFailClosed(t *testing.T) {
	cfg := config.Default()
	docs := badDocs(t)
	set := librarySet(t, docs)
	out := t.TempDir()
	res, err := Runner{Binary: gatorBin, OutDir: out}.Check(context.Background(), OptionsFrom(cfg), set, docs)
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("real run: %v, %+v", err, res)
	}
	realJSON, err := os.ReadFile(filepath.Join(out, RawOutputName))
	if err != nil {
		t.Fatal(err)
	}
	replay := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "out.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := replay(realJSON)
	mangle := func(old, new string) string {
		s := string(realJSON)
		if !strings.Contains(s, old) {
			t.Fatalf("real output lacks %q", old)
		}
		return replay([]byte(strings.ReplaceAll(s, old, new)))
	}
	cases := []struct {
		name    string
		binary  string
		timeout time.Duration
		want    string
	}{
		{"garbage", fakeTool(t, "echo 'this is not JSON'"), 0, "read gator JSON output"},
		{"empty output", fakeTool(t, "exit 0"), 0, "read gator JSON output"},
		{"fatal without output", fakeTool(t, "echo 'auditing objects: boom' >&2; exit 1"), 0, "exited with code 1 without output; stderr: auditing objects: boom"},
		{"unexpected exit code", fakeTool(t, "cat "+good+"; exit 2"), 0, "exited with code 2"},
		{"exit code contradicts output", fakeTool(t, "cat "+good+"; exit 0"), 0, "does not match its output"},
		{"null but exit 1", fakeTool(t, "echo null; exit 1"), 0, "does not match its output"},
		{"trailing garbage", fakeTool(t, "cat "+good+"; echo garbage; exit 1"), 0, "unexpected data after"},
		{"truncated", fakeTool(t, "head -c 300 "+good+"; exit 1"), 0, "read gator JSON output"},
		{"not a list", fakeTool(t, `echo '{"msg": "x"}'; exit 1`), 0, "read gator JSON output"},
		{"unknown constraint", fakeTool(t, "cat "+mangle(`"name": "tg-no-privileged"`, `"name": "tg-elsewhere"`)+"; exit 1"), 0, "not among its inputs"},
		{"unknown object", fakeTool(t, "cat "+mangle(`"name": "web"`, `"name": "api"`)+"; exit 1"), 0, "gator reported on Deployment/shop/api, which is not among its inputs"},
		{"unknown action", fakeTool(t, "cat "+mangle(`"enforcementAction": "deny"`, `"enforcementAction": "block"`)+"; exit 1"), 0, `unknown enforcementAction "block"`},
		{"result without object", fakeTool(t, "cat "+mangle(`"violatingObject"`, `"otherObject"`)+"; exit 1"), 0, "names no object"},
		{"crash", fakeTool(t, "kill -9 $$"), 0, "crashed"},
		{"hang", fakeTool(t, "exec sleep 60"), 300 * time.Millisecond, "did not finish"},
		{"missing binary", filepath.Join(t.TempDir(), "nope"), 0, "could not start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res, err := Runner{Binary: c.binary, Timeout: c.timeout}.Check(context.Background(), OptionsFrom(cfg), set, docs)
			var te *model.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("got result %+v, err %v; want a tool error", res, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			r := model.ErrorResult(Name, Tool(), err)
			if run := (model.Run{Stages: []*model.StageResult{r}}); run.ExitCode() != model.ExitTool {
				t.Fatalf("exit %d, want 3", run.ExitCode())
			}
		})
	}
	// The replayed real output itself is accepted: the cases above fail for their defect alone.
	res, err = Runner{Binary: fakeTool(t, "cat "+good+"; exit 1")}.Check(context.Background(), OptionsFrom(cfg), set, docs)
	if err != nil || len(res.Findings) != 1 || res.Findings[0].RuleID != "K8sTGNoPrivileged/tg-no-privileged" {
		t.Fatalf("replay of real output: %+v, %v", res, err)
	}
}

// TestHangRealGator: a policy whose evaluation does not end in time makes the real gator run past
// the timeout; the stage fails closed with a tool error instead of waiting or passing.
func TestHangRealGator(t *testing.T) {
	slow := parseDocs(t, "slow.yaml", `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sslow
spec:
  crd:
    spec:
      names:
        kind: K8sSlow
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: Rego
          source:
            version: v1
            rego: |
              package k8sslow

              # Ten billion pairs, none of them a violation: evaluation outlives any stage timeout.
              violation contains {"msg": "never"} if {
              	some a in numbers.range(1, 100000)
              	some b in numbers.range(1, 100000)
              	a + b < 0
              }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sSlow
metadata:
  name: slow
`)
	docs := badDocs(t)
	cfg := config.Default()
	f := false
	cfg.Policy.DefaultLibrary = &f
	set, err := NewSet(nil, slow, docs)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Runner{Binary: gatorBin, Timeout: 3 * time.Second}.Check(context.Background(), OptionsFrom(cfg), set, docs)
	var te *model.ToolError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("err = %v, want a tool error for the timeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s: the timeout did not stop gator", d)
	}
}

// TestBadPolicies: policies that cannot be evaluated are input errors (exit 2) naming the file and
// line, caught before gator or mapped back from gator's refusal.
func TestBadPolicies(t *testing.T) {
	docs := badDocs(t)
	cfg := config.Default()
	write := func(t *testing.T, name, text string) []manifest.Document {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := manifest.Load(context.Background(), []string{name}, dir)
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		return d
	}
	const tplHead = "# a user's template\napiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sbad\nspec:\n"
	const constraint = "---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sBad\nmetadata:\n  name: bad\n"
	cases := []struct {
		name, file, text, want string
		line                   int
	}{
		{"rego syntax error", "bad.yaml", tplHead + `  crd:
    spec:
      names:
        kind: K8sBad
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sbad

        violation[{"msg": msg}] {
          msg := sprintf("bad %v", [
        }
` + constraint, `gator refused ConstraintTemplate "k8sbad"`, 18},
		{"template without kind", "bad.yaml", tplHead + "  crd:\n    spec:\n      names: {}\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: 'package x'\n",
			"spec.crd.spec.names.kind is required", 2},
		{"template without code", "bad.yaml", tplHead + "  crd:\n    spec:\n      names:\n        kind: K8sBad\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n",
			"has no rego and no code", 2},
		{"template with a wrong target", "bad.yaml", tplHead + "  crd:\n    spec:\n      names:\n        kind: K8sBad\n  targets:\n    - target: other\n      rego: 'package x'\n",
			"must be admission.k8s.gatekeeper.sh", 2},
		{"name not the kind", "bad.yaml", strings.Replace(tplHead, "name: k8sbad", "name: bad", 1) + "  crd:\n    spec:\n      names:\n        kind: K8sBad\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: 'package x'\n",
			"must be the lowercase", 2},
		{"constraint without template", "c.yaml", "\n" + strings.TrimPrefix(constraint, "---\n"), "no ConstraintTemplate defines kind K8sBad", 2},
		{"constraint with an unknown action", "c.yaml", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sTGProbes\nmetadata:\n  name: probes\nspec:\n  enforcementAction: block\n",
			`unknown spec.enforcementAction "block"`, 1},
		{"scoped without scopes", "c.yaml", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sTGProbes\nmetadata:\n  name: probes\nspec:\n  enforcementAction: scoped\n",
			"needs spec.scopedEnforcementActions", 1},
		{"parameters of the wrong type", "c.yaml", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sTGProbes\nmetadata:\n  name: probes\nspec:\n  parameters:\n    probes: livenessProbe\n",
			`gator refused Constraint K8sTGProbes/probes: schema validation failed`, 1},
		{"duplicate template", "c.yaml", strings.Replace(tplHead, "k8sbad", "k8stgprobes", 1) + "  crd:\n    spec:\n      names:\n        kind: K8sTGProbes\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: 'package x'\n---\n" + strings.Replace(tplHead, "k8sbad", "k8stgprobes", 1)[len("# a user's template\n"):] + "  crd:\n    spec:\n      names:\n        kind: K8sTGProbes\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: 'package x'\n",
			"is defined twice", 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			extra := write(t, c.file, c.text)
			_, err := checkDocsErr(t, cfg, docs, extra...)
			var ie *model.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
			if ie.File != c.file || ie.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (file %q line %d), want %s:%d and %q", err, ie.File, ie.Line, c.file, c.line, c.want)
			}
		})
	}
	t.Run("not YAML", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("kind: [unclosed\n  - what\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadPaths(context.Background(), dir, []string{"policy.yaml"})
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.File != "policy.yaml" || ie.Line == 0 {
			t.Fatalf("err = %v, want an input error naming policy.yaml and a line", err)
		}
	})
}
