package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
	"github.com/tollgate-dev/tollgate/internal/verify"
)

// Verify checks with the pinned cosign that each image's digest, and every platform manifest of
// an index, carries a signature from the trusted public key or keyless identity, and that the
// required attestations are present, recent and free of blocking vulnerabilities. Every failed
// requirement is a CRITICAL finding. Defaults come from tollgate.yaml's verify section.
// Never cached: signatures and tags change where the engine cannot see.
//
// +cache="never"
func (m *Tollgate) Verify(
	ctx context.Context,
	// Images to verify: repo:tag or repo@sha256:...; default verify.image from tollgate.yaml.
	// +optional
	imageRefs []string,
	// Trusted cosign public key (cosign.pub); default verify.key from tollgate.yaml, in the source.
	// +optional
	publicKey *dagger.File,
	// Keyless: the signing certificate's identity (exact).
	// +optional
	certificateIdentity string,
	// Keyless: a regular expression the certificate identity must match.
	// +optional
	certificateIdentityRegexp string,
	// Keyless: the OIDC issuer (exact), e.g. https://token.actions.githubusercontent.com.
	// +optional
	certificateOidcIssuer string,
	// Keyless: a regular expression the OIDC issuer must match.
	// +optional
	certificateOidcIssuerRegexp string,
	// Required attestations TYPE[:MAX-AGE] (sbom, vuln, slsaprovenance1, spdxjson, cyclonedx; e.g. vuln:7d); default verify.require.
	// +optional
	require []string,
	// Accept signatures without a transparency log entry (reported as a finding).
	// +optional
	insecureIgnoreTlog bool,
	// Registry username for the images.
	// +optional
	registryUsername string,
	// Registry password or token for the images.
	// +optional
	registryPassword *dagger.Secret,
	// Allow plain HTTP to a registry on a loopback or private address.
	// +optional
	allowHttpRegistry bool,
) (*StageReport, error) {
	vin := verifyInputs{refs: imageRefs, publicKey: publicKey, identity: certificateIdentity, identityRegexp: certificateIdentityRegexp,
		issuer: certificateOidcIssuer, issuerRegexp: certificateOidcIssuerRegexp, require: require, ignoreTlog: insecureIgnoreTlog,
		user: registryUsername, password: registryPassword, allowHTTP: allowHttpRegistry}
	return m.stage(ctx, verify.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		return m.verify(ctx, cfg, vin)
	})
}

type verifyInputs struct {
	refs                     []string
	publicKey                *dagger.File
	identity, identityRegexp string
	issuer, issuerRegexp     string
	require                  []string
	ignoreTlog               bool
	user                     string
	password                 *dagger.Secret
	allowHTTP                bool
}

// verifyOverrides applies the function's arguments over tollgate.yaml's verify section.
func verifyOverrides(cfg *config.Config, in verifyInputs) {
	if in.identity != "" || in.identityRegexp != "" || in.issuer != "" || in.issuerRegexp != "" {
		cfg.Verify.CertificateIdentity, cfg.Verify.CertificateIdentityRegexp = in.identity, in.identityRegexp
		cfg.Verify.CertificateOIDCIssuer, cfg.Verify.CertificateOIDCIssuerRegexp = in.issuer, in.issuerRegexp
	}
	if len(in.require) > 0 {
		cfg.Verify.Require = nil
		for _, r := range in.require {
			typ, age, _ := strings.Cut(r, ":")
			cfg.Verify.Require = append(cfg.Verify.Require, config.Requirement{Type: typ, MaxAge: age})
		}
	}
	if in.ignoreTlog {
		off := false
		cfg.Verify.Tlog = &off
	}
}

// trustSet reports whether the arguments or tollgate.yaml name whom to trust: a public key or a
// keyless identity (a run's opt-in for verify, and what deploy's verification needs).
func trustSet(cfg *config.Config, in verifyInputs) bool {
	c := *cfg
	verifyOverrides(&c, verifyInputs{identity: in.identity, identityRegexp: in.identityRegexp, issuer: in.issuer, issuerRegexp: in.issuerRegexp})
	return in.publicKey != nil || cosign.Configured(&c, noEnv)
}

// noEnv is the environment of the module runtime as far as trust goes: none. Keys and
// identities come from arguments and tollgate.yaml.
func noEnv(string) (string, bool) { return "", false }

func (m *Tollgate) verify(ctx context.Context, cfg *config.Config, in verifyInputs) (*model.StageResult, error) {
	verifyOverrides(cfg, in)
	if len(in.refs) == 0 && cfg.Verify.Image != "" {
		in.refs = []string{cfg.Verify.Image}
	}
	if len(in.refs) == 0 {
		return nil, &model.InputError{Err: errors.New("verify: no image: pass imageRefs or set verify.image")}
	}
	v, err := m.verifier(ctx, cfg, in)
	if err != nil {
		return nil, err
	}
	findings, err := v.VerifyImages(ctx, in.refs)
	if err != nil {
		return nil, err
	}
	res := &model.StageResult{Stage: verify.Name, Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: append(findings, v.Notices()...)}
	failed := 0
	for _, f := range findings {
		if f.Severity == model.SeverityCritical {
			failed++
		}
	}
	what := "signature on every manifest"
	if n := len(v.Policy.Requirements); n > 0 {
		var names []string
		for _, r := range v.Policy.Requirements {
			names = append(names, r.Name)
		}
		what += fmt.Sprintf(", %d required attestation(s) (%s)", n, strings.Join(names, ", "))
	}
	if failed == 0 {
		res.Summary = fmt.Sprintf("verified %d image(s) against %s: %s", len(in.refs), v.KeySource, what)
	} else {
		res.Summary = fmt.Sprintf("%d failed requirement(s) in %d image(s) (%s)", failed, len(in.refs), what)
	}
	return res, nil
}

// verifier is the shared cosign verifier (verify's and deploy's check) with cosign in its
// official image: trust from the arguments over tollgate.yaml's verify section, the public key
// as a file readable by cosign's user.
func (m *Tollgate) verifier(ctx context.Context, cfg *config.Config, in verifyInputs) (*cosign.Verifier, error) {
	allowHTTP := in.allowHTTP || cfg.Verify.AllowHTTPRegistry
	reg, err := registryFor(ctx, in.user, in.password, allowHTTP)
	if err != nil {
		return nil, err
	}
	policy, err := cosign.PolicyFrom(cfg)
	if err != nil {
		return nil, err
	}
	trust := cosign.Trust{Identity: cfg.Verify.CertificateIdentity, IdentityRegexp: cfg.Verify.CertificateIdentityRegexp,
		Issuer: cfg.Verify.CertificateOIDCIssuer, IssuerRegexp: cfg.Verify.CertificateOIDCIssuerRegexp,
		IgnoreTlog: !cfg.Verify.TlogOn(), RekorURL: cfg.Verify.RekorURL}
	first := ""
	if len(in.refs) > 0 {
		first = in.refs[0]
	}
	ctr := cosignContainer(first, in.user, in.password)
	source := "the keyless identity"
	key := in.publicKey
	if key == nil && cfg.Verify.Key != "" && trust.Identity == "" && trust.IdentityRegexp == "" {
		if err := insideSource([]string{cfg.Verify.Key}); err != nil {
			return nil, err
		}
		key, source = m.Source.File(cfg.Verify.Key), cfg.Verify.Key
	}
	if key != nil {
		pem, err := key.Contents(ctx)
		if err != nil {
			return nil, &model.InputError{File: "publicKey", Err: err}
		}
		if err := cosign.CheckPublicKey([]byte(pem)); err != nil {
			return nil, &model.InputError{File: "publicKey", Err: err}
		}
		if source == "the keyless identity" {
			source = "publicKey"
		}
		trust.Key = cosignTrustDir + "/cosign.pub"
		ctr = ctr.WithNewFile(trust.Key, pem, dagger.ContainerWithNewFileOpts{Owner: cosignUser, Permissions: 0o444})
		if trust.IgnoreTlog {
			trust.TrustedRoot = cosignTrustDir + "/trusted_root.json"
			ctr = ctr.WithNewFile(trust.TrustedRoot, cosign.EmptyTrustedRoot, dagger.ContainerWithNewFileOpts{Owner: cosignUser, Permissions: 0o444})
		}
	}
	if err := trust.Check(); err != nil {
		return nil, &model.InputError{File: cfg.Path, Err: err}
	}
	return &cosign.Verifier{Trust: trust, KeySource: source, Policy: policy, Registry: reg, Common: cosign.Common{AllowHTTP: allowHTTP},
		Now: now, Runner: containerRunner{ctr: ctr}}, nil
}

// containerRunner runs cosign in its official image: the Dagger runner's cosign.Runner.
type containerRunner struct{ ctr *dagger.Container }

func (r containerRunner) RunCosign(ctx context.Context, args []string) (*tools.Result, error) {
	run, err := runTool(ctx, cosign.ToolName, r.ctr, toolArgv(cosign.ToolName, args), nil)
	if err != nil {
		return nil, err
	}
	return run.result(), nil
}

// errNoTrust is deploy's refusal to verify against nothing: deploying anyway would make the
// check a silent pass, so it is the caller's input error (exit 2).
var errNoTrust = errors.New("deploy verifies every image before applying (deploy.verify, default true), but no trusted key or " +
	"keyless identity is given: pass --public-key, or --certificate-identity and --certificate-oidc-issuer (or set verify.key, " +
	"verify.certificate-identity and verify.certificate-oidc-issuer in tollgate.yaml); or deploy with --verify=false (reported as a finding)")

// imageVerifier is deploy's image check in the Dagger runner: the verify stage's check, cosign in
// its image, under the same trust. Keys are only loaded once there are images to verify.
type imageVerifier struct {
	m   *Tollgate
	cfg *config.Config
	in  verifyInputs
}

// VerifyImages verifies and adds the verifier's standing notices (e.g. no transparency log), so
// a deploy states them as loudly as verify does.
func (v imageVerifier) VerifyImages(ctx context.Context, refs []string) ([]model.Finding, error) {
	if !trustSet(v.cfg, v.in) {
		return nil, &model.InputError{File: v.cfg.Path, Err: errNoTrust}
	}
	c := *v.cfg
	verifyOverrides(&c, v.in)
	in := v.in
	in.refs = refs
	ver, err := v.m.verifier(ctx, &c, in)
	if err != nil {
		return nil, err
	}
	f, err := ver.VerifyImages(ctx, refs)
	if err != nil {
		return nil, err
	}
	return append(f, ver.Notices()...), nil
}
