//go:build daggerunit

package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestVerifyOverrides(t *testing.T) {
	cfg, err := config.Parse("tollgate.yaml", []byte("version: 1\nverify:\n  key: keys/cosign.pub\n  require:\n    - type: vuln\n"))
	if err != nil {
		t.Fatal(err)
	}
	verifyOverrides(cfg, verifyInputs{require: []string{"provenance:7d", "sbom"}, ignoreTlog: true})
	if len(cfg.Verify.Require) != 2 || cfg.Verify.Require[0].Type != "provenance" || cfg.Verify.Require[0].MaxAge != "7d" || cfg.Verify.TlogOn() {
		t.Fatalf("overrides not applied: %+v", cfg.Verify)
	}
	p, err := cosign.PolicyFrom(cfg)
	if err != nil || len(p.Requirements) != 2 {
		t.Fatalf("policy %+v, %v", p, err)
	}
	verifyOverrides(cfg, verifyInputs{identity: "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main", issuer: "https://token.actions.githubusercontent.com"})
	if cfg.Verify.CertificateIdentity == "" || cfg.Verify.CertificateOIDCIssuer == "" {
		t.Fatalf("identity not applied: %+v", cfg.Verify)
	}
}

// The registry client in the module runtime may use plain HTTP only when asked, and then to
// loopback and private addresses (the engine's host bridge), never to a public registry.
func TestRegistryForDagger(t *testing.T) {
	o, err := registryFor(context.Background(), "", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.CheckHTTP("10.199.0.1:5000"); err != nil {
		t.Errorf("lab registry refused: %v", err)
	}
	if err := o.CheckHTTP("registry.example.com"); err == nil {
		t.Error("plain HTTP allowed to a public registry")
	}
	_, err = registryFor(context.Background(), "bot", nil, false)
	var ie *model.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "go together") {
		t.Errorf("username without password: %v", err)
	}
}

// Predicates and keys sit at paths the cosign image's user 65532 can read, and reach cosign the
// way the native runner hands them over: key via env://, predicate file path, never contents.
func TestCosignArgsInContainerPaths(t *testing.T) {
	ref := "10.199.0.1:5000/team/app@sha256:" + strings.Repeat("a", 64)
	args, err := cosign.AttestArgs(cosign.Signer{Key: "env://" + cosign.KeyVar}, cosign.Common{AllowHTTP: true}, cosign.TypeVuln, cosignPredicateDir+"/0-vuln.json", ref)
	if err != nil {
		t.Fatal(err)
	}
	want := "attest --yes --replace --key env://TOLLGATE_COSIGN_KEY --tlog-upload=false --type vuln --predicate /tollgate/predicates/0-vuln.json --allow-http-registry " + ref
	if got := strings.Join(args, " "); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	v, err := cosign.VerifyArgs(cosign.Trust{Key: cosignTrustDir + "/cosign.pub", IgnoreTlog: true, TrustedRoot: cosignTrustDir + "/trusted_root.json"}, cosign.Common{}, ref)
	if err != nil || !strings.Contains(strings.Join(v, " "), "--trusted-root /tollgate/trust/trusted_root.json") {
		t.Errorf("verify args %v %v", v, err)
	}
}
