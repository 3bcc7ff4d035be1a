package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Paths inside the cosign container (distroless, no shell, runs as 65532).
const (
	cosignPredicateDir = "/tollgate/predicates"
	cosignTrustDir     = "/tollgate/trust"
	cosignUser         = "65532"
)

// Sign signs an image by digest with the pinned cosign in its official image: a tag is resolved
// to its digest first, and a multi-platform index is signed along with every platform manifest.
// Sign with a private key (key and keyPassword secrets) or keylessly with the CI's OIDC token
// (oidcToken: Fulcio certificate, Rekor entry; needs the network).
//
// +cache="never"
func (m *Tollgate) Sign(
	ctx context.Context,
	// Image to sign: repo:tag or repo@sha256:...
	imageRef string,
	// cosign private key (the contents of cosign.key); without it, oidcToken signs keylessly.
	// +optional
	key *dagger.Secret,
	// Password of the private key (handed to cosign as COSIGN_PASSWORD, never as an argument).
	// +optional
	keyPassword *dagger.Secret,
	// OIDC identity token for keyless signing (GitLab id_tokens, or a GitHub Actions token with audience sigstore).
	// +optional
	oidcToken *dagger.Secret,
	// Registry username for imageRef.
	// +optional
	registryUsername string,
	// Registry password or token for imageRef.
	// +optional
	registryPassword *dagger.Secret,
	// Record the signature in the Rekor transparency log; false is reported as a finding.
	// +default=true
	tlogUpload bool,
	// Allow plain HTTP to a registry on a loopback or private address (e.g. a registry on the engine's host).
	// +optional
	allowHttpRegistry bool,
) (*StageReport, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	in := signInputs{imageRef: imageRef, key: key, password: keyPassword, oidcToken: oidcToken, user: registryUsername,
		registryPassword: registryPassword, tlog: tlogUpload, allowHTTP: allowHttpRegistry}
	res, err := m.sign(ctx, in)
	if err != nil {
		res = model.ErrorResult("sign", cosign.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	return newStageReport(res)
}

// Attest attaches signed in-toto attestations to an image's digest with the pinned cosign: SBOMs
// (SPDX or CycloneDX JSON, e.g. from the sbom function), a trivy JSON report as cosign's
// vulnerability predicate, and Tollgate's SLSA provenance v1.
//
// +cache="never"
func (m *Tollgate) Attest(
	ctx context.Context,
	// Image to attest: repo:tag or repo@sha256:...
	imageRef string,
	// cosign private key (the contents of cosign.key); without it, oidcToken signs keylessly.
	// +optional
	key *dagger.Secret,
	// Password of the private key.
	// +optional
	keyPassword *dagger.Secret,
	// OIDC identity token for keyless signing.
	// +optional
	oidcToken *dagger.Secret,
	// Registry username for imageRef.
	// +optional
	registryUsername string,
	// Registry password or token for imageRef.
	// +optional
	registryPassword *dagger.Secret,
	// SBOM files to attest (SPDX or CycloneDX JSON).
	// +optional
	sbom []*dagger.File,
	// trivy JSON report to attest as cosign's vulnerability predicate.
	// +optional
	vulnReport *dagger.File,
	// Attest Tollgate's SLSA provenance v1 for this image.
	// +default=true
	provenance bool,
	// Source repository URL for the provenance (e.g. $GITHUB_SERVER_URL/$GITHUB_REPOSITORY).
	// +optional
	sourceRepository string,
	// Source revision (commit) for the provenance (e.g. $GITHUB_SHA, $CI_COMMIT_SHA).
	// +optional
	sourceRevision string,
	// Builder ID for the provenance: the CI run's URL.
	// +optional
	builderId string,
	// Record the attestations in the Rekor transparency log; false is reported as a finding.
	// +default=true
	tlogUpload bool,
	// Allow plain HTTP to a registry on a loopback or private address.
	// +optional
	allowHttpRegistry bool,
) (*StageReport, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	in := signInputs{imageRef: imageRef, key: key, password: keyPassword, oidcToken: oidcToken, user: registryUsername,
		registryPassword: registryPassword, tlog: tlogUpload, allowHTTP: allowHttpRegistry}
	preds := attestInputs{sboms: sbom, vulnReport: vulnReport, provenance: provenance, builderID: builderId,
		source: cosign.Source{Repository: cosign.StripCredentials(sourceRepository), Revision: sourceRevision}}
	res, err := m.attest(ctx, cfg, in, preds, nil)
	if err != nil {
		res = model.ErrorResult("attest", cosign.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	return newStageReport(res)
}

// Verify checks with the pinned cosign that each image's digest, and every platform manifest of
// an index, carries a signature from the trusted public key or keyless identity, and that the
// required attestations are present, recent and free of blocking vulnerabilities. Every failed
// requirement is a CRITICAL finding. Defaults come from tollgate.yaml's verify section.
// Never cached: signatures and tags change where the engine cannot see.
//
// +cache="never"
func (m *Tollgate) Verify(
	ctx context.Context,
	// Images to verify: repo:tag or repo@sha256:...
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
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	vin := verifyInputs{refs: imageRefs, publicKey: publicKey, identity: certificateIdentity, identityRegexp: certificateIdentityRegexp,
		issuer: certificateOidcIssuer, issuerRegexp: certificateOidcIssuerRegexp, require: require, ignoreTlog: insecureIgnoreTlog,
		user: registryUsername, password: registryPassword, allowHTTP: allowHttpRegistry}
	res, err := m.verify(ctx, cfg, vin)
	if err != nil {
		res = model.ErrorResult("verify", cosign.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	return newStageReport(res)
}

type signInputs struct {
	imageRef         string
	key, password    *dagger.Secret
	oidcToken        *dagger.Secret
	user             string
	registryPassword *dagger.Secret
	tlog, allowHTTP  bool
}

// registryFor is how the module runtime reaches the registry to resolve digests. Plain HTTP,
// when asked, reaches loopback and private addresses: inside the engine a registry on the host
// is behind a private bridge.
func registryFor(ctx context.Context, user string, password *dagger.Secret, allowHTTP bool) (cosign.RegistryOptions, error) {
	o := cosign.RegistryOptions{AllowHTTP: allowHTTP, HTTPHosts: cosign.IsLoopbackOrPrivate}
	if (user == "") != (password == nil) {
		return o, &model.InputError{Err: errors.New("registryUsername and registryPassword go together")}
	}
	if password != nil {
		// Read into the runtime's memory for its own registry client only: never an argument.
		pw, err := password.Plaintext(ctx)
		if err != nil {
			return o, &model.ToolError{Tool: "registry", Err: fmt.Errorf("read registryPassword: %w", err)}
		}
		o.Creds = image.Credentials{Username: user, Password: pw}
	}
	return o, nil
}

// cosignContainer is the pinned cosign image with the registry credentials in its environment.
// The clock variable keeps the engine from replaying an earlier sign or verify: signatures and
// tags change outside the engine's view.
func cosignContainer(ref, user string, password *dagger.Secret) *dagger.Container {
	t := tools.MustGet(cosign.ToolName)
	ctr := dag.Container().From(t.Image).
		WithEnvVariable("TOLLGATE_COSIGN_AT", now().UTC().Format(time.RFC3339Nano))
	if password != nil {
		ctr = ctr.WithEnvVariable(cosign.RegistryUserVar, user).WithSecretVariable(cosign.RegistryPasswordVar, password)
		if r, err := name.ParseReference(ref); err == nil {
			ctr = ctr.WithRegistryAuth(r.Context().RegistryStr(), user, password)
		}
	}
	return ctr
}

// signer puts the key (or the OIDC token) into the container's environment and says how cosign
// finds it.
func (in signInputs) signer(ctr *dagger.Container) (*dagger.Container, cosign.Signer, error) {
	s := cosign.Signer{TlogUpload: in.tlog}
	switch {
	case in.key != nil && in.oidcToken != nil:
		return nil, s, &model.InputError{Err: errors.New("pass either key or oidcToken, not both")}
	case in.key != nil:
		s.Key = "env://" + cosign.KeyVar
		ctr = ctr.WithSecretVariable(cosign.KeyVar, in.key)
		if in.password != nil {
			ctr = ctr.WithSecretVariable(cosign.CosignPassword, in.password)
		} else {
			ctr = ctr.WithEnvVariable(cosign.CosignPassword, "")
		}
	case in.oidcToken != nil:
		ctr = ctr.WithSecretVariable("SIGSTORE_ID_TOKEN", in.oidcToken)
	default:
		return nil, s, &model.InputError{Err: errors.New("no signing key: pass key (and keyPassword), or oidcToken to sign keylessly")}
	}
	return ctr, s, nil
}

func (in signInputs) notices(subj *cosign.Subject, what string) []model.Finding {
	return (&cosign.Signing{Signer: cosign.Signer{TlogUpload: in.tlog}}).Notices(subj, what)
}

func (m *Tollgate) sign(ctx context.Context, in signInputs) (*model.StageResult, error) {
	reg, err := registryFor(ctx, in.user, in.registryPassword, in.allowHTTP)
	if err != nil {
		return nil, err
	}
	ctr, signer, err := in.signer(cosignContainer(in.imageRef, in.user, in.registryPassword))
	if err != nil {
		return nil, err
	}
	subj, err := cosign.Resolve(ctx, in.imageRef, reg)
	if err != nil {
		return nil, err
	}
	args, err := cosign.SignArgs(signer, cosign.Common{AllowHTTP: in.allowHTTP}, subj.IsIndex(), subj.Ref())
	if err != nil {
		return nil, &model.InputError{Err: err}
	}
	if err := runSigning(ctx, ctr, "sign", args); err != nil {
		return nil, err
	}
	return &model.StageResult{Stage: "sign", Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: in.notices(subj, "signature"),
		Summary: "signed " + subj.Ref()}, nil
}

// runSigning runs one cosign sign or attest and explains a failure with the shared classifier.
func runSigning(ctx context.Context, ctr *dagger.Container, verb string, args []string) error {
	bin := tools.MustGet(cosign.ToolName).ImageBinary
	ctr = ctr.WithExec(append([]string{bin}, args...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return cosign.SignError(verb, code, []byte(stderr), "key", "keyPassword")
	}
	return nil
}

type attestInputs struct {
	sboms      []*dagger.File
	vulnReport *dagger.File
	provenance bool
	builderID  string
	source     cosign.Source
}

// attest writes each predicate with the shared builders and attaches it with cosign. results are
// the pipeline's stage results for the provenance (nil for a standalone call).
func (m *Tollgate) attest(ctx context.Context, cfg *config.Config, in signInputs, preds attestInputs, results []*model.StageResult) (*model.StageResult, error) {
	reg, err := registryFor(ctx, in.user, in.registryPassword, in.allowHTTP)
	if err != nil {
		return nil, err
	}
	ctr, signer, err := in.signer(cosignContainer(in.imageRef, in.user, in.registryPassword))
	if err != nil {
		return nil, err
	}
	type pred struct {
		typ  string
		data []byte
	}
	var todo []pred
	for i, f := range preds.sboms {
		b, err := f.Contents(ctx)
		if err != nil {
			return nil, &model.InputError{File: fmt.Sprintf("sbom[%d]", i), Err: err}
		}
		typ, err := cosign.DetectSBOM([]byte(b))
		if err != nil {
			return nil, &model.InputError{File: fmt.Sprintf("sbom[%d]", i), Err: err}
		}
		todo = append(todo, pred{typ, []byte(b)})
	}
	subj, err := cosign.Resolve(ctx, in.imageRef, reg)
	if err != nil {
		return nil, err
	}
	if preds.vulnReport != nil {
		b, err := preds.vulnReport.Contents(ctx)
		if err != nil {
			return nil, &model.InputError{File: "vulnReport", Err: err}
		}
		p, err := cosign.VulnPredicate(cosign.VulnInput{Report: []byte(b), FailOn: cfg.FailOn("scan"), Subject: subj,
			BuilderID: preds.builderID, Repository: preds.source.Repository})
		if err != nil {
			return nil, &model.InputError{File: "vulnReport", Err: err}
		}
		todo = append(todo, pred{cosign.TypeVuln, p})
	}
	if preds.provenance {
		t := now()
		p, err := cosign.Provenance(cosign.ProvenanceInput{Subject: subj, Source: preds.source, BuilderID: preds.builderID,
			Results: results, Started: t, Finished: t})
		if err != nil {
			return nil, &model.ToolError{Tool: "tollgate", Err: err}
		}
		todo = append(todo, pred{cosign.TypeProvenance, p})
	}
	if len(todo) == 0 {
		return nil, &model.InputError{Err: errors.New("attest: nothing to attest: pass sbom, vulnReport or provenance=true")}
	}
	var done []string
	for i, p := range todo {
		path := fmt.Sprintf("%s/%d-%s.json", cosignPredicateDir, i, p.typ)
		args, err := cosign.AttestArgs(signer, cosign.Common{AllowHTTP: in.allowHTTP}, p.typ, path, subj.Ref())
		if err != nil {
			return nil, &model.InputError{Err: err}
		}
		c := ctr.WithNewFile(path, string(p.data), dagger.ContainerWithNewFileOpts{Owner: cosignUser, Permissions: 0o444})
		if err := runSigning(ctx, c, "attest --type "+p.typ, args); err != nil {
			return nil, err
		}
		done = append(done, p.typ)
	}
	return &model.StageResult{Stage: "attest", Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: in.notices(subj, "attestations"),
		Summary: fmt.Sprintf("attested %s to %s", strings.Join(done, ", "), subj.Ref())}, nil
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

func (m *Tollgate) verify(ctx context.Context, cfg *config.Config, in verifyInputs) (*model.StageResult, error) {
	verifyOverrides(cfg, in)
	if len(in.refs) == 0 && cfg.Verify.Image != "" {
		in.refs = []string{cfg.Verify.Image}
	}
	if len(in.refs) == 0 {
		return nil, &model.InputError{Err: errors.New("verify: no image: pass imageRefs or set verify.image")}
	}
	reg, err := registryFor(ctx, in.user, in.password, in.allowHTTP)
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
	ctr := cosignContainer(in.refs[0], in.user, in.password)
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
	v := &cosign.Verifier{Trust: trust, KeySource: source, Policy: policy, Registry: reg, Common: cosign.Common{AllowHTTP: in.allowHTTP},
		Now: now, Runner: containerRunner{ctr: ctr}}
	findings, err := v.VerifyImages(ctx, in.refs)
	if err != nil {
		return nil, err
	}
	return &model.StageResult{Stage: "verify", Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: append(findings, v.Notices()...)}, nil
}

// containerRunner runs cosign in its official image: the Dagger runner's cosign.Runner.
type containerRunner struct{ ctr *dagger.Container }

func (r containerRunner) RunCosign(ctx context.Context, args []string) (*tools.Result, error) {
	bin := tools.MustGet(cosign.ToolName).ImageBinary
	c := r.ctr.WithExec(append([]string{bin}, args...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := c.ExitCode(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	stdout, err := c.Stdout(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: cosign.ToolName, Err: err}
	}
	stderr, _ := c.Stderr(ctx)
	return &tools.Result{ExitCode: code, Stdout: []byte(stdout), Stderr: []byte(stderr)}, nil
}
