//go:build daggerunit

package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/dagger"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func parseCfg(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tollgate.yaml", []byte("version: 1\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func names(stages []moduleStage) string {
	var n []string
	for _, s := range stages {
		n = append(n, s.name)
	}
	return strings.Join(n, " ")
}

// Opt-in stages join a run only when the arguments or tollgate.yaml set them up, or
// tollgate.yaml's stages names them, as the native runner's SetUp does; a check releases nothing.
func TestSelectStages(t *testing.T) {
	const gates = "lint validate score policy sbom scan"
	secret, file := &dagger.Secret{}, &dagger.File{}
	tests := []struct {
		name      string
		yaml      string
		args      runArgs
		gatesOnly bool
		want      string
	}{
		{"nothing set up", "", runArgs{}, false, gates},
		{"--build", "", runArgs{build: true}, false, "build " + gates},
		{"build section", "build:\n  dockerfile: Dockerfile\n", runArgs{}, false, "build " + gates},
		{"--repository", "", runArgs{repository: "r.example/app"}, false, gates + " push"},
		{"push section", "push:\n  repository: r.example/app\n", runArgs{}, false, gates + " push"},
		{"--signing-key", "", runArgs{signingKey: secret}, false, gates + " sign attest"},
		{"--oidc-token", "", runArgs{oidcToken: secret}, false, gates + " sign attest"},
		{"sign.keyless", "sign:\n  keyless: true\n", runArgs{}, false, gates + " sign attest"},
		{"--public-key", "", runArgs{publicKey: file}, false, gates + " verify"},
		{"--certificate-identity", "", runArgs{certificateIdentity: "https://x", certificateOidcIssuer: "https://i"}, false, gates + " verify"},
		{"verify.key", "verify:\n  key: cosign.pub\n", runArgs{}, false, gates + " verify"},
		{"--kubeconfig", "", runArgs{kubeconfig: secret}, false, gates + " deploy"},
		// The kubeconfig is a secret: tollgate.yaml alone cannot give the module a cluster.
		{"deploy section alone", "deploy:\n  context: prod\n", runArgs{}, false, gates},
		{"everything", "", runArgs{build: true, repository: "r.example/app", oidcToken: secret, publicKey: file, kubeconfig: secret}, false,
			"build " + gates + " push sign attest verify deploy"},
		{"named in stages: runs and explains a skip", "stages: [lint, deploy]\n", runArgs{}, false, gates + " deploy"},
		{"a check releases nothing", "build:\n  dockerfile: Dockerfile\n", runArgs{repository: "r.example/app", oidcToken: secret, kubeconfig: secret}, true, "build " + gates},
	}
	for _, tc := range tests {
		in := newRunInputsNoEngine(parseCfg(t, tc.yaml), tc.args)
		if got := names(selectStages(runStages(), in, tc.gatesOnly)); got != tc.want {
			t.Errorf("%s: stages %q, want %q", tc.name, got, tc.want)
		}
	}
}

// newRunInputsNoEngine is newRunInputs without the engine call for the SBOM directory.
func newRunInputsNoEngine(cfg *config.Config, a runArgs) *runInputs {
	return &runInputs{cfg: cfg, args: a, image: imageArgs{ctr: a.image, ref: a.imageRef}}
}

// Release stages work on one digest, in the native runner's order of precedence.
func TestReleaseTarget(t *testing.T) {
	in := newRunInputsNoEngine(config.Default(), runArgs{})
	if got := in.target(true, "", "cfg.example/app:1"); got != "cfg.example/app:1" {
		t.Errorf("configured: %q", got)
	}
	in.args.imageRef = "arg.example/app:1"
	if got := in.target(true, "cfg.example/app:1"); got != "arg.example/app:1" {
		t.Errorf("argument over config: %q", got)
	}
	in.signed = "arg.example/app@sha256:2"
	if got, gotSign := in.target(true), in.target(false); got != in.signed || gotSign != "arg.example/app:1" {
		t.Errorf("signed digest for attest/verify: %q, for sign: %q", got, gotSign)
	}
	in.published = "push.example/app@sha256:1"
	if got := in.target(true, "cfg.example/app:1"); got != in.published {
		t.Errorf("pushed digest first: %q", got)
	}
	if none := newRunInputsNoEngine(config.Default(), runArgs{}).target(true); none != "" {
		t.Errorf("no image: %q", none)
	}
}

func TestSignSkip(t *testing.T) {
	keyless := parseCfg(t, "sign:\n  keyless: true\n")
	secret := &dagger.Secret{}
	if why := signSkip(config.Default(), runArgs{signingKey: secret}, "", "sign"); !strings.Contains(why, "no image to sign") {
		t.Errorf("no image: %q", why)
	}
	if why := signSkip(keyless, runArgs{}, "r@sha256:1", "attest"); !strings.Contains(why, "--oidc-token") {
		t.Errorf("keyless without a token: %q", why)
	}
	for _, a := range []runArgs{{oidcToken: secret}, {signingKey: secret}} {
		if why := signSkip(keyless, a, "r@sha256:1", "sign"); why != "" {
			t.Errorf("%+v: skipped: %q", a, why)
		}
	}
	if why := signSkip(parseCfg(t, "sign:\n  key: cosign.key\n"), runArgs{}, "r@sha256:1", "sign"); why != "" {
		t.Errorf("sign.key: skipped: %q", why)
	}
}

func TestTrustSet(t *testing.T) {
	if trustSet(config.Default(), verifyInputs{}) {
		t.Error("nothing to trust, but trust set")
	}
	for _, in := range []verifyInputs{{publicKey: &dagger.File{}}, {identity: "https://x"}, {identityRegexp: ".*"}} {
		if !trustSet(config.Default(), in) {
			t.Errorf("%+v: trust not set", in)
		}
	}
	cfg := parseCfg(t, "verify:\n  certificate-identity-regexp: '^https://github.com/org/'\n  certificate-oidc-issuer: https://token.actions.githubusercontent.com\n")
	if !trustSet(cfg, verifyInputs{}) || cfg.Verify.CertificateIdentityRegexp == "" {
		t.Error("tollgate.yaml's keyless identity not taken, or trustSet changed the config")
	}
}

func TestBuildError(t *testing.T) {
	var ie *model.InputError
	var te *model.ToolError
	err := buildError(&dagger.ExecError{ExitCode: 2, Stderr: "line1\napk: package not found: nope"})
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "a Dockerfile step failed (exit 2)") || !strings.Contains(err.Error(), "package not found") {
		t.Errorf("failed RUN step: %v", err)
	}
	err = buildError(errors.New("failed to solve: dockerfile parse error on line 3: unknown instruction: FORM"))
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad Dockerfile: %v", err)
	}
	err = buildError(errors.New("rpc error: code = Unavailable desc = connection closed"))
	if !errors.As(err, &te) || errors.As(err, &ie) {
		t.Errorf("engine failure: %v", err)
	}
}

// The release stages of a run hand the digest on (push -> sign -> attest -> verify), run after
// every gate and one after another, and the provenance sees every stage result before it.
func TestRunAllRelease(t *testing.T) {
	gate := func(name string) func(context.Context, *Tollgate, *runInputs) (*StageReport, error) {
		return func(context.Context, *Tollgate, *runInputs) (*StageReport, error) {
			return result(name, model.StatusPass, ""), nil
		}
	}
	var signedRef, verifiedRef string
	var seen []string
	stages := []moduleStage{
		{name: "lint", run: gate("lint")},
		{name: "scan", run: gate("scan")},
		{name: "push", afterGates: true, run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			in.set(func() { in.published = "r.example/app@sha256:1" })
			return result("push", model.StatusPass, ""), nil
		}},
		{name: "sign", afterGates: true, needs: []string{"push"}, run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			signedRef = in.target(false)
			return result("sign", model.StatusPass, ""), nil
		}},
		{name: "attest", afterGates: true, needs: []string{"push", "sign"}, run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			for _, r := range in.finished() {
				seen = append(seen, r.Stage)
			}
			return result("attest", model.StatusFail, ""), nil
		}},
		{name: "verify", afterGates: true, needs: []string{"attest"}, run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			verifiedRef = in.target(true)
			return result("verify", model.StatusPass, ""), nil
		}},
	}
	out := make([]*StageReport, len(stages))
	runAll(context.Background(), nil, stages, newRunInputsNoEngine(config.Default(), runArgs{imageRef: "r.example/app:1"}), out)
	if signedRef != "r.example/app@sha256:1" {
		t.Errorf("sign got %q, not the pushed digest", signedRef)
	}
	if !slices.Equal(seen, []string{"lint", "scan", "push", "sign"}) {
		t.Errorf("attest's provenance saw %v", seen)
	}
	if out[5].Status != "skipped" || verifiedRef != "" {
		t.Errorf("verify ran after attest failed: %+v", out[5])
	}
}
