package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/pipeline"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/testimage"
)

type cliReport struct {
	Stages []struct {
		Stage    string
		Status   string
		Error    string
		Findings []struct {
			Rule, Severity, Message, File, Resource string
			Line                                    int
		}
	}
}

// tollgate runs the CLI in-process and returns its exit code, stdout and stderr.
func tollgate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func kubeconfigFile(t *testing.T, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// watchArgs scans every process's command line on the machine while a test runs and reports
// any that holds secret: the deploy stage must start no process, let alone pass it credentials.
func watchArgs(t *testing.T, secret string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var found []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, e := range entries {
				if b, err := os.ReadFile(e); err == nil && bytes.Contains(b, []byte(secret)) {
					found = append(found, e+": "+strings.ReplaceAll(string(b), "\x00", " "))
				}
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if len(found) > 0 {
			t.Errorf("a process had the secret in its arguments: %q", found)
		}
	}
}

// TestCLIExitCodesAndCanary runs `tollgate deploy` as a user would: a manifest the server rejects
// exits 1 with the finding, a kubeconfig that does not parse exits 2 naming the file, an
// unreachable server or refused credentials exit 3 within a bounded time. The kubeconfig's
// bearer token is a canary that must appear in no output, no report and no process argument.
func TestCLIExitCodesAndCanary(t *testing.T) {
	c := apiServer(t)
	root := repoRoot(t)
	ns := namespace(t, nil)
	good := kubeconfigFile(t, c.Kubeconfig(canaryToken))
	unparsable := kubeconfigFile(t, []byte("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: "+canaryToken+"\n"))
	silent, stopSilent, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stopSilent()
	unreachable := kubeconfigFile(t, c.KubeconfigAt("https://127.0.0.1:1", canaryToken))
	hanging := kubeconfigFile(t, c.KubeconfigAt("https://"+silent, canaryToken))
	expiredCfg, err := c.ClientCertKubeconfig("expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired := kubeconfigFile(t, expiredCfg)
	revoked := kubeconfigFile(t, c.Kubeconfig("revoked-"+canaryToken))

	stop := watchArgs(t, canaryToken)
	defer stop()
	tests := []struct {
		name      string
		args      []string
		code      int
		rule      string
		file      string
		line      int
		stderr    string
		maxTime   time.Duration
		applied   bool
		reportDir bool
	}{
		{name: "valid manifests deploy", args: []string{"fixtures/deploy/policy"}, code: 0, applied: true, reportDir: true},
		{name: "server rejects a manifest", args: []string{"fixtures/deploy/invalid"}, code: 1, rule: "TG-DEPLOY-001",
			file: "fixtures/deploy/invalid/deployment.yaml", line: 10, reportDir: true},
		{name: "kubeconfig does not parse", args: []string{"fixtures/deploy/invalid", "--kubeconfig", unparsable}, code: 2, stderr: unparsable + ":5"},
		{name: "unreachable API server", args: []string{"fixtures/deploy/invalid", "--kubeconfig", unreachable}, code: 3, stderr: "cannot reach the API server", maxTime: 15 * time.Second},
		{name: "API server never answers", args: []string{"fixtures/deploy/invalid", "--kubeconfig", hanging}, code: 3, stderr: "did not answer", maxTime: 60 * time.Second},
		{name: "expired client certificate", args: []string{"fixtures/deploy/invalid", "--kubeconfig", expired}, code: 3, stderr: "refused the credentials", maxTime: 15 * time.Second},
		{name: "revoked token", args: []string{"fixtures/deploy/invalid", "--kubeconfig", revoked}, code: 3, stderr: "refused the credentials", maxTime: 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"deploy"}, tt.args...)
			if !contains(tt.args, "--kubeconfig") {
				args = append(args, "--kubeconfig", good)
			}
			args = append(args, "-C", root, "--namespace", ns, "--verify=false", "--format", "json", "--out", out, "--progress", "plain")
			start := time.Now()
			code, stdout, stderr := tollgate(t, args...)
			took := time.Since(start)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.maxTime > 0 && took > tt.maxTime {
				t.Errorf("took %s, want at most %s", took, tt.maxTime)
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
			var r cliReport
			if err := json.Unmarshal([]byte(stdout), &r); err != nil || len(r.Stages) != 1 || r.Stages[0].Stage != "deploy" {
				t.Fatalf("report: %v\n%s", err, stdout)
			}
			if tt.rule != "" {
				found := false
				for _, f := range r.Stages[0].Findings {
					if f.Rule == tt.rule && f.File == tt.file && f.Line == tt.line {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s finding at %s:%d in %+v", tt.rule, tt.file, tt.line, r.Stages[0].Findings)
				}
			}
			if tt.reportDir {
				if _, err := os.Stat(filepath.Join(out, "deploy.json")); err != nil {
					t.Errorf("deploy.json artifact: %v", err)
				}
			}
			// The canary is nowhere: stdout, stderr, every report and artifact.
			if strings.Contains(stdout, canaryToken) || strings.Contains(stderr, canaryToken) {
				t.Errorf("canary token in output")
			}
			_ = filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(canaryToken)) {
						t.Errorf("canary token in %s", p)
					}
				}
				return nil
			})
		})
	}
	if _, ok := get(t, vapGVR, "", "tollgate-deny-privileged"); !ok {
		t.Error("the valid manifests were not applied")
	}
	if _, ok := get(t, cmGVR, ns, "settings"); ok {
		t.Error("a deploy with a rejected manifest applied the others")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestRunDeploysOnlyAfterGates: in `tollgate run`, deploy comes last and only when every gate
// passed; a failing lint gate skips it and nothing reaches the cluster.
func TestRunDeploysOnlyAfterGates(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	kc := kubeconfigFile(t, c.Kubeconfig(canaryToken))
	for _, tc := range []struct {
		name       string
		dockerfile string
		code       int
		deploy     string
	}{
		{"gates fail", "FROM ubuntu:latest\nRUN echo hi\n", 1, "skipped"},
		{"gates pass", "FROM gcr.io/distroless/static-debian12@sha256:" + strings.Repeat("e", 64) + "\nUSER 10001:10001\nHEALTHCHECK CMD [\"/app\", \"-healthcheck\"]\nENTRYPOINT [\"/app\"]\n", 0, "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFileT(t, dir, "Dockerfile", tc.dockerfile)
			writeFileT(t, dir, ".dockerignore", ".git\n**/*.key\n.env\n")
			writeFileT(t, dir, "k8s/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-run}\ndata: {a: b}\n")
			writeFileT(t, dir, "tollgate.yaml", "version: 1\nstages: [lint, deploy]\ndeploy:\n  kubeconfig: "+kc+"\n  namespace: "+ns+"\n")
			code, stdout, stderr := tollgate(t, "run", dir, "--format", "json", "--out", "", "--progress", "none")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			var r cliReport
			if err := json.Unmarshal([]byte(stdout), &r); err != nil || len(r.Stages) != 2 || r.Stages[1].Stage != "deploy" {
				t.Fatalf("report: %v\n%s", err, stdout)
			}
			if r.Stages[1].Status != tc.deploy {
				t.Errorf("deploy %s (%s), want %s", r.Stages[1].Status, r.Stages[1].Error, tc.deploy)
			}
			_, stored := get(t, cmGVR, ns, "from-run")
			if stored != (tc.deploy == "pass") {
				t.Errorf("ConfigMap stored = %v with deploy %s", stored, r.Stages[1].Status)
			}
		})
	}
}

func writeFileT(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStageInPipeline runs the deploy stage the way `tollgate run` does, after a push stage
// that handed over its digest: references to the pushed repository are pinned to it before the
// verifier sees them, and a refused image fails the run with exit 1, a finding per image, and
// nothing applied.
func TestStageInPipeline(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	dir := t.TempDir()
	writeFileT(t, dir, "k8s/app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "registry.example.com/shop/web:1.0"}
        - {name: proxy, image: "registry.example.com/shop/proxy:2.0"}
`)
	cfg, err := config.Parse("tollgate.yaml", []byte("version: 1\ndeploy:\n  kubeconfig: "+kubeconfigFile(t, c.Kubeconfig(c.AdminToken))+"\n  namespace: "+ns+"\n  timeout: 1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	pushed := "registry.example.com/shop/web@sha256:" + strings.Repeat("f", 64)
	var asked []string
	verifier := deploy.VerifierFactory(func(context.Context, *stage.Env) (deploy.ImageVerifier, error) {
		return verifierFunc(func(_ context.Context, refs []string) ([]model.Finding, error) {
			asked = append(asked, refs...)
			return refuse{unsigned: map[string]bool{pushed: true, "registry.example.com/shop/proxy:2.0": true}}.VerifyImages(context.Background(), refs)
		}), nil
	})
	shared := &stage.Shared{}
	shared.Set(stage.KeyPublishedRef, pushed)
	env := &stage.Env{Root: dir, Config: cfg, Shared: shared, OutDir: t.TempDir()}
	run := pipeline.Run(context.Background(), env, []stage.Stage{deploy.NewStage(verifier)}, nil)
	res := run.Stages[0]
	if run.ExitCode() != 1 || res.Status != model.StatusFail {
		t.Fatalf("exit %d status %s (%s), want 1 fail", run.ExitCode(), res.Status, res.Error)
	}
	if fmt.Sprint(asked) != fmt.Sprint([]string{"registry.example.com/shop/proxy:2.0", pushed}) {
		t.Errorf("verifier asked about %q: the pushed reference must replace the tag", asked)
	}
	if len(res.Findings) != 2 {
		t.Errorf("want a finding per refused image, got %+v", res.Findings)
	}
	for _, f := range res.Findings {
		if !f.Blocking || f.Location.File != "k8s/app.yaml" {
			t.Errorf("finding %+v", f)
		}
	}
	if _, ok := get(t, deployGVR, ns, "web"); ok {
		t.Error("Deployment applied despite refused images")
	}
}

type verifierFunc func(context.Context, []string) ([]model.Finding, error)

func (f verifierFunc) VerifyImages(ctx context.Context, refs []string) ([]model.Finding, error) {
	return f(ctx, refs)
}
