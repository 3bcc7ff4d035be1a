package deploy_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

// TestCosignGate wires the real verifier: deploy refuses an image that was never signed with
// the trusted key (exit 1, nothing applied), deploys it once `tollgate sign` signed it, and says
// what to configure when no trust is set up at all (exit 2). A real registry on 127.0.0.1, the
// pinned cosign and the package's API server.
func TestCosignGate(t *testing.T) {
	c := apiServer(t)
	ns := namespace(t, nil)
	kc := kubeconfigFile(t, c.Kubeconfig(c.AdminToken))
	host, stop := testimage.OpenRegistry()
	defer stop()
	img, err := testimage.Clean()
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/shop/web:1.0"
	if err := testimage.Push(img, ref); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_COSIGN_PASSWORD", "deploy-gate-"+canaryToken)

	dir := t.TempDir()
	if code, out, errOut := tollgate(t, "keys", "generate", "-C", dir); code != 0 {
		t.Fatalf("keys generate: exit %d\n%s\n%s", code, out, errOut)
	}
	writeFileT(t, dir, "k8s/app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: signed-web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "`+ref+`"}
`)
	base := "version: 1\ndeploy:\n  kubeconfig: " + kc + "\n  namespace: " + ns + "\n  dry-run: true\n"
	deployRun := func(t *testing.T) (int, cliReport, string) {
		t.Helper()
		code, stdout, stderr := tollgate(t, "deploy", "-C", dir, "--format", "json", "--out", "", "--progress", "none")
		var r cliReport
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("report: %v\n%s\n%s", err, stdout, stderr)
		}
		return code, r, stderr
	}

	t.Run("no trust configured", func(t *testing.T) {
		writeFileT(t, dir, "tollgate.yaml", base)
		code, _, stderr := deployRun(t)
		if code != 2 || !strings.Contains(stderr, "no trusted key or keyless identity") {
			t.Fatalf("exit %d, want 2 with the configuration hint\n%s", code, stderr)
		}
	})

	trusted := base + "verify:\n  key: cosign.pub\n  tlog: false\n  allow-http-registry: true\n"
	t.Run("unsigned image refused", func(t *testing.T) {
		writeFileT(t, dir, "tollgate.yaml", trusted)
		code, r, stderr := deployRun(t)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stderr)
		}
		var blocking int
		for _, f := range r.Stages[0].Findings {
			if f.Resource != "" && strings.Contains(f.Message+f.Resource, "shop/web") {
				blocking++
			}
		}
		if blocking == 0 {
			t.Errorf("no finding names the unsigned image: %+v", r.Stages[0].Findings)
		}
	})

	if code, out, errOut := tollgate(t, "sign", ref, "-C", dir, "--key", filepath.Join(dir, "cosign.key"),
		"--tlog-upload=false", "--allow-http-registry", "--out", "", "--progress", "none"); code != 0 {
		t.Fatalf("sign: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Run("signed image deploys", func(t *testing.T) {
		code, r, stderr := deployRun(t)
		if code != 0 {
			t.Fatalf("exit %d, want 0\n%+v\n%s", code, r.Stages, stderr)
		}
		var tlogNotice bool
		for _, f := range r.Stages[0].Findings {
			tlogNotice = tlogNotice || strings.Contains(f.Message, "transparency log")
		}
		if !tlogNotice {
			t.Errorf("verify.tlog: false must be stated in the deploy report: %+v", r.Stages[0].Findings)
		}
	})
}
