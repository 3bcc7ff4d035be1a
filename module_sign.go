package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/attest"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/image"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/sign"
)

// Paths inside the cosign container (distroless, no shell, runs as 65532).
const (
	cosignPredicateDir = "/tollgate/predicates"
	cosignTrustDir     = "/tollgate/trust"
	cosignKeyFile      = "/tollgate/keys/cosign.key"
	cosignUser         = "65532"
)

// Sign signs an image by digest with the pinned cosign in its official image: a tag is resolved
// to its digest first, and a multi-platform index is signed along with every platform manifest.
// Sign with a private key (key and keyPassword secrets, else sign.key from tollgate.yaml, a key
// file in the source) or keylessly with the CI's OIDC token (oidcToken: Fulcio certificate,
// Rekor entry; needs the network).
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
	in := signInputs{imageRef: imageRef, key: key, password: keyPassword, oidcToken: oidcToken, user: registryUsername,
		registryPassword: registryPassword, tlog: tlogUpload, allowHTTP: allowHttpRegistry}
	return m.stage(ctx, sign.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		res, _, err := m.sign(ctx, cfg, in)
		return res, err
	})
}

// Attest attaches signed in-toto attestations to an image's digest with the pinned cosign: SBOMs
// (SPDX or CycloneDX JSON, e.g. from the sbom function), a trivy JSON report as cosign's
// vulnerability predicate, and Tollgate's SLSA provenance v1. (In `run`, the SBOMs, the scan
// and the provenance of the run itself are attested.)
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
	in := signInputs{imageRef: imageRef, key: key, password: keyPassword, oidcToken: oidcToken, user: registryUsername,
		registryPassword: registryPassword, tlog: tlogUpload, allowHTTP: allowHttpRegistry}
	return m.stage(ctx, attest.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		preds := attestInputs{sboms: sbom, provenance: provenance, builderID: builderId,
			source: cosign.Source{Repository: cosign.StripCredentials(sourceRepository), Revision: sourceRevision}}
		if vulnReport != nil {
			b, err := vulnReport.Contents(ctx)
			if err != nil {
				return nil, &model.InputError{File: "vulnReport", Err: err}
			}
			preds.vulnReport, preds.vulnSource = []byte(b), "vulnReport"
		}
		res, _, err := m.attest(ctx, cfg, in, preds)
		return res, err
	})
}

type signInputs struct {
	imageRef         string
	key, password    *dagger.Secret
	oidcToken        *dagger.Secret
	user             string
	registryPassword *dagger.Secret
	tlog, allowHTTP  bool
}

// withConfig applies tollgate.yaml's sign section: its switches can only make signing stricter
// or name what the arguments leave open.
func (in signInputs) withConfig(cfg *config.Config) signInputs {
	in.tlog = in.tlog && cfg.Sign.TlogOn()
	in.allowHTTP = in.allowHTTP || cfg.Sign.AllowHTTPRegistry
	return in
}

// released is what a release stage did, for a run's reports: the digest it worked on and the
// files it leaves (signed.json, attested.json, the predicates Tollgate wrote), by file name.
type released struct {
	ref   string
	files map[string][]byte
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
	ctr := toolImage(cosign.ToolName).WithEnvVariable("TOLLGATE_COSIGN_AT", now().UTC().Format(time.RFC3339Nano))
	if password != nil {
		ctr = ctr.WithEnvVariable(cosign.RegistryUserVar, user).WithSecretVariable(cosign.RegistryPasswordVar, password)
		if r, err := name.ParseReference(ref); err == nil {
			ctr = ctr.WithRegistryAuth(r.Context().RegistryStr(), user, password)
		}
	}
	return ctr
}

// signer puts the key (or the OIDC token) into the container and says how cosign finds it, and
// how summaries name it (never the key itself): a key secret, else sign.key from the source
// (mounted, readable by cosign's user only), else the OIDC token.
func (m *Tollgate) signer(cfg *config.Config, in signInputs, ctr *dagger.Container) (*dagger.Container, cosign.Signer, string, error) {
	s := cosign.Signer{TlogUpload: in.tlog, FulcioURL: cfg.Sign.FulcioURL, RekorURL: cfg.Sign.RekorURL, OIDCIssuer: cfg.Sign.OIDCIssuer}
	password := func(ctr *dagger.Container) *dagger.Container {
		if in.password != nil {
			return ctr.WithSecretVariable(cosign.CosignPassword, in.password)
		}
		return ctr.WithEnvVariable(cosign.CosignPassword, "")
	}
	switch {
	case in.key != nil && in.oidcToken != nil:
		return nil, s, "", &model.InputError{Err: errors.New("pass either key or oidcToken, not both")}
	case in.key != nil:
		s.Key = "env://" + cosign.KeyVar
		return password(ctr.WithSecretVariable(cosign.KeyVar, in.key)), s, "the key secret", nil
	case in.oidcToken != nil:
		return ctr.WithSecretVariable("SIGSTORE_ID_TOKEN", in.oidcToken), s, "a keyless (Fulcio) certificate", nil
	case cfg.Sign.Key != "":
		if err := insideSource([]string{cfg.Sign.Key}); err != nil {
			return nil, s, "", err
		}
		s.Key = cosignKeyFile
		ctr = ctr.WithMountedFile(cosignKeyFile, m.Source.File(cfg.Sign.Key), dagger.ContainerWithMountedFileOpts{Owner: cosignUser})
		return password(ctr), s, "the key " + cfg.Sign.Key, nil
	case cfg.Sign.Keyless:
		return nil, s, "", &model.InputError{File: cfg.Path, Err: errors.New("sign.keyless: keyless signing in Dagger needs the CI's OIDC token: pass --oidc-token (a secret)")}
	}
	return nil, s, "", &model.InputError{Err: errors.New("no signing key: pass key (and keyPassword), or oidcToken to sign keylessly, or set sign.key in tollgate.yaml")}
}

// signingSet reports whether the arguments or tollgate.yaml set up signing (a run's opt-in).
func signingSet(cfg *config.Config, key, oidcToken *dagger.Secret) bool {
	return key != nil || oidcToken != nil || cfg.Sign.Key != "" || cfg.Sign.Keyless
}

// notices are the standing findings about how signing was done (no transparency log).
func notices(subj *cosign.Subject, what string, tlog bool) []model.Finding {
	return (&cosign.Signing{Signer: cosign.Signer{TlogUpload: tlog}}).Notices(subj, what)
}

// record is what a sign or attest did to a subject, for the steps after it.
func record(subj *cosign.Subject, signer string, tlog bool) cosign.Record {
	return cosign.Record{Image: subj.Input, Reference: subj.Ref(), Digest: subj.Digest, Manifests: subj.Manifests, Signer: signer, Tlog: tlog}
}

func (m *Tollgate) sign(ctx context.Context, cfg *config.Config, in signInputs) (*model.StageResult, *released, error) {
	in = in.withConfig(cfg)
	reg, err := registryFor(ctx, in.user, in.registryPassword, in.allowHTTP)
	if err != nil {
		return nil, nil, err
	}
	ctr, signer, desc, err := m.signer(cfg, in, cosignContainer(in.imageRef, in.user, in.registryPassword))
	if err != nil {
		return nil, nil, err
	}
	subj, err := cosign.Resolve(ctx, in.imageRef, reg)
	if err != nil {
		return nil, nil, err
	}
	args, err := cosign.SignArgs(signer, cosign.Common{AllowHTTP: in.allowHTTP}, subj.IsIndex(), subj.Ref())
	if err != nil {
		return nil, nil, &model.InputError{Err: err}
	}
	if err := runSigning(ctx, ctr, "sign", args); err != nil {
		return nil, nil, err
	}
	what := "signed " + subj.Ref()
	if subj.IsIndex() {
		what += fmt.Sprintf(" (index and its %d manifests)", len(subj.Manifests))
	}
	what += " with " + desc
	res := &model.StageResult{Stage: sign.Name, Tool: cosign.Tool(), Rules: cosign.Rules(), Findings: notices(subj, "signature", in.tlog), Summary: what}
	return res, &released{ref: subj.Ref(), files: map[string][]byte{sign.RecordFile: record(subj, desc, in.tlog).JSON()}}, nil
}

// runSigning runs one cosign sign or attest and explains a failure with the shared classifier.
func runSigning(ctx context.Context, ctr *dagger.Container, verb string, args []string) error {
	run, err := runTool(ctx, cosign.ToolName, ctr, toolArgv(cosign.ToolName, args), nil)
	if err != nil {
		return err
	}
	if run.code != 0 {
		return cosign.SignError(verb, run.code, run.stderr, "key", "keyPassword")
	}
	return nil
}

type attestInputs struct {
	sboms      []*dagger.File
	vulnReport []byte
	vulnSource string
	// scan is the gated scan result whose suppressions the vulnerability predicate records
	// (nil for a report given as a file).
	scan       *model.StageResult
	provenance bool
	// wanted are the predicates tollgate.yaml asks a run for (attest.predicates): one whose input
	// is missing is a finding. Nil for the Attest function: it attests what it is given.
	wanted    map[string]bool
	builderID string
	source    cosign.Source
	// The run, for the provenance: its stage results so far, its start, and tollgate.yaml.
	results    []*model.StageResult
	started    time.Time
	config     []byte
	configFile string
}

// attest writes each predicate with the shared builders and attaches it with cosign.
func (m *Tollgate) attest(ctx context.Context, cfg *config.Config, in signInputs, preds attestInputs) (*model.StageResult, *released, error) {
	in = in.withConfig(cfg)
	reg, err := registryFor(ctx, in.user, in.registryPassword, in.allowHTTP)
	if err != nil {
		return nil, nil, err
	}
	ctr, signer, desc, err := m.signer(cfg, in, cosignContainer(in.imageRef, in.user, in.registryPassword))
	if err != nil {
		return nil, nil, err
	}
	type pred struct {
		typ, source, file string // file: the artifact name when Tollgate wrote the predicate
		data              []byte
	}
	var todo []pred
	for i, f := range preds.sboms {
		src := fmt.Sprintf("sbom[%d]", i)
		if n, err := f.Name(ctx); err == nil && n != "" {
			src = n
		}
		b, err := f.Contents(ctx)
		if err != nil {
			return nil, nil, &model.InputError{File: src, Err: err}
		}
		typ, err := cosign.DetectSBOM([]byte(b))
		if err != nil {
			return nil, nil, &model.InputError{File: src, Err: err}
		}
		todo = append(todo, pred{typ: typ, source: src, data: []byte(b)})
	}
	subj, err := cosign.Resolve(ctx, in.imageRef, reg)
	if err != nil {
		return nil, nil, err
	}
	var findings []model.Finding
	if preds.wanted[attest.PredSBOM] && len(preds.sboms) == 0 {
		findings = append(findings, attest.NotAttested(subj, attest.PredSBOM, "no SBOM: the sbom stage did not run in this run or wrote none"))
	}
	if preds.vulnReport != nil {
		p, err := cosign.VulnPredicate(cosign.VulnInput{Report: preds.vulnReport, Scan: preds.scan, FailOn: cfg.FailOn("scan"), Subject: subj,
			BuilderID: preds.builderID, Repository: preds.source.Repository})
		if err != nil {
			return nil, nil, &model.InputError{File: preds.vulnSource, Err: err}
		}
		todo = append(todo, pred{typ: cosign.TypeVuln, source: preds.vulnSource, file: attest.VulnFile, data: p})
	} else if preds.wanted[attest.PredVuln] {
		findings = append(findings, attest.NotAttested(subj, attest.PredVuln, "no vulnerability report: the scan stage did not run in this run or wrote none"))
	}
	if preds.provenance {
		started, finished := preds.started, now()
		if started.IsZero() {
			started = finished
		}
		p, err := cosign.Provenance(cosign.ProvenanceInput{Subject: subj, Source: preds.source, BuilderID: preds.builderID,
			Results: preds.results, Started: started, Finished: finished, Config: preds.config, ConfigFile: preds.configFile})
		if err != nil {
			return nil, nil, &model.ToolError{Tool: "tollgate", Err: err}
		}
		todo = append(todo, pred{typ: cosign.TypeProvenance, source: "Tollgate", file: attest.ProvenanceFile, data: p})
	}
	if len(todo) == 0 && preds.wanted == nil {
		return nil, nil, &model.InputError{Err: errors.New("attest: nothing to attest: pass sbom, vulnReport or provenance=true")}
	}
	out := &released{ref: subj.Ref(), files: map[string][]byte{}}
	rec := record(subj, desc, in.tlog)
	var done []string
	for i, p := range todo {
		path := fmt.Sprintf("%s/%d-%s.json", cosignPredicateDir, i, p.typ)
		args, err := cosign.AttestArgs(signer, cosign.Common{AllowHTTP: in.allowHTTP}, p.typ, path, subj.Ref())
		if err != nil {
			return nil, nil, &model.InputError{Err: err}
		}
		// Predicates hold reports and SBOMs, never secrets: an inline file is fine here.
		c := ctr.WithNewFile(path, string(p.data), dagger.ContainerWithNewFileOpts{Owner: cosignUser, Permissions: 0o444})
		if err := runSigning(ctx, c, "attest --type "+p.typ, args); err != nil {
			return nil, nil, err
		}
		done = append(done, p.typ)
		pt, _ := cosign.LookupType(p.typ)
		rec.Predicates = append(rec.Predicates, cosign.RecordPred{Type: p.typ, URI: pt.URI, Source: p.source})
		if p.file != "" {
			out.files[p.file] = p.data
		}
	}
	what := "nothing attested to " + subj.Ref()
	if len(done) > 0 {
		what = fmt.Sprintf("attested %s to %s with %s", strings.Join(done, ", "), subj.Ref(), desc)
		out.files[attest.RecordFile] = rec.JSON()
	}
	res := &model.StageResult{Stage: attest.Name, Tool: cosign.Tool(), Rules: cosign.Rules(),
		Findings: append(notices(subj, "attestations", in.tlog), findings...), Summary: what}
	return res, out, nil
}
