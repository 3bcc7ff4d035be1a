package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/attest"
	"github.com/tollgate-dev/tollgate/internal/build"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/push"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/sign"
	"github.com/tollgate-dev/tollgate/internal/verify"
)

// The run's stage adapters: each loads the config, runs the stage's shared code and hands on
// what later stages need (the built containers, the SBOMs and the scan report, the pushed and
// signed digests, the records for the reports directory).

// skippedResult is a stage that had nothing to work on, saying why.
func skippedResult(stage string, tool model.Tool, why string) *model.StageResult {
	return &model.StageResult{Stage: stage, Tool: tool, Status: model.StatusSkipped, Findings: []model.Finding{}, Error: why}
}

func runBuild(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, build.Name, engineBuilder(), func(ctx context.Context, _ *config.Config) (*model.StageResult, error) {
		a := in.args
		res, variants, err := m.buildStage(ctx, buildInputs{buildArgs: a.buildArgs, secrets: a.buildSecrets,
			sourceURL: a.sourceRepository, revision: a.sourceRevision})
		if err != nil {
			return nil, err
		}
		in.setBuiltImage(variants[0])
		in.set(func() { in.variants = variants })
		return res, nil
	})
}

func runSbom(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	img, err := in.imageFor(ctx, m, sbom.Name)
	r, err := m.sbomStage(ctx, in.cfg, img, err, nil, time.Now())
	if err != nil {
		return nil, err
	}
	if r.Dir != nil {
		in.set(func() { in.sboms = r.Dir })
	}
	return r.Report, nil
}

func runScan(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	img, err := in.imageFor(ctx, m, scan.Name)
	r, report, err := m.scanStage(ctx, in.cfg, img, err, scanInputs{offlineDB: in.offlineDB}, time.Now())
	if err != nil {
		return nil, err
	}
	if report != nil {
		if res, err := r.result(); err == nil {
			in.set(func() { in.vuln, in.scanned = report, res })
		}
	}
	return r, nil
}

func runPush(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, push.Name, push.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		repo, tags, err := publishTarget(cfg, in.args.repository, in.args.tags)
		if err != nil {
			return nil, err
		}
		in.mu.Lock()
		variants := in.variants
		in.mu.Unlock()
		if len(variants) == 0 && in.args.image != nil {
			variants = []*dagger.Container{in.args.image}
		}
		if len(variants) == 0 {
			return nil, &model.InputError{Err: errors.New("nothing to push: no image was built in this run; pass --build (or add a build: section to tollgate.yaml), or --image")}
		}
		ref, err := publish(ctx, variants, repo, tags, in.args.registryUsername, in.args.registryPassword)
		if err != nil {
			return nil, err
		}
		in.set(func() { in.published = ref })
		res := &model.StageResult{Stage: push.Name, Tool: push.Tool(), Findings: []model.Finding{},
			Summary:   "pushed " + ref + " (tags: " + strings.Join(tags, ", ") + ")",
			Artifacts: []model.Artifact{{Name: "pushed image", Path: ref, Type: "image-reference"}}}
		for _, t := range tags {
			res.Artifacts = append(res.Artifacts, model.Artifact{Name: "tag", Path: repo + ":" + t, Type: "image-reference"})
		}
		rec, _ := json.MarshalIndent(map[string]any{"reference": ref, "repository": repo, "tags": tags}, "", "  ")
		in.keep(res, map[string][]byte{pushRecord: append(rec, '\n')}, "pushed image")
		return res, nil
	})
}

// pushRecord is the file in the reports directory naming the pushed image by digest.
const pushRecord = "pushed.json"

func runSign(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, sign.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		ref := in.target(false, cfg.Sign.Image)
		if why := signSkip(cfg, in.args, ref, "sign"); why != "" {
			return skippedResult(sign.Name, cosign.Tool(), why), nil
		}
		res, done, err := m.sign(ctx, cfg, in.signing(ref))
		if err != nil {
			return nil, err
		}
		in.set(func() { in.signed = done.ref })
		in.keep(res, done.files, "signature")
		return res, nil
	})
}

// signSkip says why a run's sign or attest has nothing to do: no image, or keyless signing
// configured in tollgate.yaml while the run has no OIDC token (CI gives one only to release jobs).
func signSkip(cfg *config.Config, a runArgs, ref, verb string) string {
	if ref == "" {
		return "no image to " + verb + ": nothing was pushed in this run; pass --repository (to push the build) or --image-ref, or set sign.image in tollgate.yaml"
	}
	if a.signingKey == nil && a.oidcToken == nil && cfg.Sign.Key == "" {
		return "keyless signing (sign.keyless) needs the CI's OIDC token: pass --oidc-token (a secret)"
	}
	return ""
}

func runAttest(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, attest.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		ref := in.target(true, cfg.Sign.Image)
		if why := signSkip(cfg, in.args, ref, "attest"); why != "" {
			return skippedResult(attest.Name, cosign.Tool(), why), nil
		}
		preds, err := m.runPredicates(ctx, cfg, in)
		if err != nil {
			return nil, err
		}
		res, done, err := m.attest(ctx, cfg, in.signing(ref), preds)
		if err != nil {
			return nil, err
		}
		in.keep(res, done.files, "attestation")
		return res, nil
	})
}

// runPredicates are what a run attests (attest.predicates): its SBOMs (or attest.sbom files),
// its scan (or attest.vuln-report) and its provenance, with every stage result so far.
func (m *Tollgate) runPredicates(ctx context.Context, cfg *config.Config, in *runInputs) (attestInputs, error) {
	wanted, err := attest.Predicates(cfg)
	if err != nil {
		return attestInputs{}, err
	}
	a := in.args
	p := attestInputs{wanted: wanted, provenance: wanted[attest.PredProvenance], results: in.finished(), started: in.started,
		source: cosign.Source{Repository: cosign.StripCredentials(a.sourceRepository), Revision: a.sourceRevision}, builderID: a.builderID}
	if p.builderID == "" {
		p.builderID = cfg.Attest.BuilderID
	}
	p.configFile, p.config = m.configBytes(ctx)
	if wanted[attest.PredSBOM] {
		if err := insideSource(cfg.Attest.SBOM); err != nil {
			return p, err
		}
		for _, f := range cfg.Attest.SBOM {
			p.sboms = append(p.sboms, m.Source.File(f))
		}
		if len(p.sboms) == 0 {
			in.mu.Lock()
			dir := in.sboms
			in.mu.Unlock()
			names, err := dir.Entries(ctx)
			if err != nil {
				return p, &model.ToolError{Tool: sbom.Name, Err: err}
			}
			for _, n := range names {
				p.sboms = append(p.sboms, dir.File(n))
			}
		}
	}
	if wanted[attest.PredVuln] {
		if f := cfg.Attest.VulnReport; f != "" {
			if err := insideSource([]string{f}); err != nil {
				return p, err
			}
			b, err := m.Source.File(f).Contents(ctx)
			if err != nil {
				return p, &model.InputError{File: f, Err: err}
			}
			p.vulnReport, p.vulnSource = []byte(b), f
		} else {
			in.mu.Lock()
			p.vulnReport, p.scan, p.vulnSource = in.vuln, in.scanned, "scan stage"
			in.mu.Unlock()
		}
	}
	return p, nil
}

func runVerify(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, verify.Name, cosign.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		ref := in.target(true, cfg.Verify.Image, cfg.Sign.Image)
		if ref == "" {
			return skippedResult(verify.Name, cosign.Tool(), "no image to verify: nothing was pushed or signed in this run; pass --image-ref or set verify.image in tollgate.yaml"), nil
		}
		vin := in.trust()
		if !trustSet(cfg, vin) {
			return skippedResult(verify.Name, cosign.Tool(), "verification not configured: pass --public-key, or --certificate-identity and --certificate-oidc-issuer, or set verify.key in tollgate.yaml"), nil
		}
		vin.refs = []string{ref}
		return m.verify(ctx, cfg, vin)
	})
}

func runDeploy(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
	return m.stage(ctx, deploy.Name, deploy.Tool(), func(ctx context.Context, cfg *config.Config) (*model.StageResult, error) {
		if in.args.kubeconfig == nil {
			return skippedResult(deploy.Name, deploy.Tool(), "no cluster: pass --kubeconfig (a secret, e.g. env://KUBECONFIG_DATA)"), nil
		}
		if in.args.dryRun {
			cfg.Deploy.DryRun = true
		}
		in.mu.Lock()
		published := in.published
		in.mu.Unlock()
		res, record, err := m.deploy(ctx, cfg, deployInputs{kubeconfig: in.args.kubeconfig, trust: in.trust(), published: published, discover: true})
		if err != nil {
			return nil, err
		}
		if record != nil {
			in.keep(res, map[string][]byte{deploy.RecordName: record}, "deploy record")
		}
		return res, nil
	})
}

// configBytes is tollgate.yaml as the run uses it (its name and bytes), for the provenance; nil
// when the run uses the defaults.
func (m *Tollgate) configBytes(ctx context.Context) (string, []byte) {
	f, name := m.Config, "config"
	if f == nil {
		if ok, _ := m.Source.Exists(ctx, config.FileName); !ok {
			return "", nil
		}
		f, name = m.Source.File(config.FileName), config.FileName
	} else if n, err := f.Name(ctx); err == nil {
		name = n
	}
	b, err := f.Contents(ctx)
	if err != nil {
		return "", nil
	}
	return name, []byte(b)
}
