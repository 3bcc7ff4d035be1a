package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/attest"
	"github.com/tollgate-dev/tollgate/internal/build"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deploy"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/push"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/sign"
	"github.com/tollgate-dev/tollgate/internal/verify"
)

// The stages of Run, wired as the native pipeline wires them (internal/pipeline): build first
// (its container feeds sbom, scan and push), the gates in parallel, and the release stages
// (push, sign, attest, verify, deploy) after every gate passed, each handing the digest on.

// moduleStage is one stage of Run. Adding a stage to the module's pipeline is one entry in
// runStages: its name (as in tollgate.yaml stages), whether the project set it up, when it has
// nothing to work on, what it needs, whether it is a release stage, and how it runs.
type moduleStage struct {
	name string
	// optIn, when set, says whether the arguments or tollgate.yaml set the stage up (build, push,
	// sign, attest, verify, deploy): a run leaves an opt-in stage out unless they do, or
	// tollgate.yaml's stages names it (then it runs and explains a skip).
	optIn func(in *runInputs) bool
	// skip says why the stage has nothing to work on in this run ("" when it runs), e.g. no image.
	skip func(in *runInputs) string
	// needs are stages that must finish first; when one of them did not pass, this one is skipped.
	needs []string
	// afterGates marks a release stage (push, sign, deploy...): it starts after every other stage
	// finished, and only when all of them passed their gates.
	afterGates bool
	run        func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error)
}

// runStages lists the pipeline's stages in order (config.StageNames).
func runStages() []moduleStage {
	return []moduleStage{
		{name: build.Name, optIn: func(in *runInputs) bool { return in.args.build || in.cfg.Build.Configured }, run: runBuild},
		{name: "lint", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) { return m.Lint(ctx, nil) }},
		{name: "validate", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) {
			return m.Validate(ctx, nil, "", nil, nil)
		}},
		{name: "score", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) { return m.Score(ctx, nil) }},
		{name: "policy", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) {
			return m.Policy(ctx, nil, nil, nil, "")
		}},
		{name: sbom.Name, needs: []string{build.Name}, skip: noImage(sbom.Name), run: runSbom},
		{name: scan.Name, needs: []string{build.Name}, skip: noImage(scan.Name), run: runScan},
		{name: push.Name, afterGates: true, needs: []string{build.Name}, run: runPush,
			optIn: func(in *runInputs) bool { return in.args.repository != "" || in.cfg.Push.Configured }},
		{name: sign.Name, afterGates: true, needs: []string{push.Name}, run: runSign,
			optIn: func(in *runInputs) bool { return signingSet(in.cfg, in.args.signingKey, in.args.oidcToken) }},
		{name: attest.Name, afterGates: true, needs: []string{push.Name, sign.Name}, run: runAttest,
			optIn: func(in *runInputs) bool { return signingSet(in.cfg, in.args.signingKey, in.args.oidcToken) }},
		{name: verify.Name, afterGates: true, needs: []string{push.Name, sign.Name, attest.Name}, run: runVerify,
			optIn: func(in *runInputs) bool { return trustSet(in.cfg, in.trust()) }},
		// tollgate.yaml alone cannot give the module a cluster: the kubeconfig is a secret.
		{name: deploy.Name, afterGates: true, run: runDeploy, optIn: func(in *runInputs) bool { return in.args.kubeconfig != nil }},
	}
}

// selectStages is the run's stages: opt-in stages that are not set up are left out (unless
// tollgate.yaml's stages names them), and a check (gatesOnly) releases nothing.
func selectStages(all []moduleStage, in *runInputs, gatesOnly bool) []moduleStage {
	var out []moduleStage
	for _, s := range all {
		if gatesOnly && s.afterGates {
			continue
		}
		if s.optIn != nil && !s.optIn(in) && !slices.Contains(in.cfg.Stages, s.name) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// runArgs are Run's arguments.
type runArgs struct {
	image            *dagger.Container
	imageRef         string
	registryUsername string
	registryPassword *dagger.Secret
	offlineDB        *dagger.Directory

	build        bool
	buildArgs    []string
	buildSecrets []*dagger.Secret

	repository string
	tags       []string

	signingKey, signingKeyPassword, oidcToken *dagger.Secret

	publicKey             *dagger.File
	certificateIdentity   string
	certificateOidcIssuer string

	kubeconfig *dagger.Secret
	dryRun     bool

	sourceRepository, sourceRevision, builderID string
	tlog, allowHTTP                             bool
}

// runInputs is what the stages of one run share: the config, the arguments, and what one stage
// hands to another.
type runInputs struct {
	cfg       *config.Config
	args      runArgs
	image     imageArgs
	offlineDB *dagger.Directory
	started   time.Time

	mu       sync.Mutex
	resolved map[string]*resolvedImage // by configured image ("" for the arguments)
	sboms    *dagger.Directory
	built    *dagger.Container   // the image a build stage produced in this run (first platform)
	variants []*dagger.Container // every platform the build produced, for push
	vuln     []byte              // trivy's report of this run's scan
	scanned  *model.StageResult  // the scan's gated result (its suppressions go into the vuln predicate)
	// What the release stages hand on: the pushed and the signed reference (repo@sha256:...).
	published, signed string
	files             map[string][]byte // records and predicates for the reports directory
	reports           []*StageReport    // the run's results so far (runAll's)
}

func newRunInputs(cfg *config.Config, a runArgs, start time.Time) *runInputs {
	return &runInputs{cfg: cfg, args: a, started: start, offlineDB: a.offlineDB, sboms: dag.Directory(),
		image: imageArgs{ctr: a.image, ref: a.imageRef, user: a.registryUsername, password: a.registryPassword}}
}

// setBuiltImage is how a build stage hands its container to the image stages (which list it in
// their needs): without an image argument, sbom and scan describe it.
func (in *runInputs) setBuiltImage(ctr *dagger.Container) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.built = ctr
}

// args are the image arguments of the run, with the built image standing in for a missing one.
func (in *runInputs) imageArgs() imageArgs {
	in.mu.Lock()
	defer in.mu.Unlock()
	a := in.image
	if a.ctr == nil && a.ref == "" && in.built != nil {
		a.ctr = in.built
	}
	return a
}

// resolvedImage is one image resolution, done once however many stages ask for it.
type resolvedImage struct {
	once sync.Once
	img  *imageInput
	err  error
}

// hasImage is true when the run has an image for the stage: an argument, a built one, or one in
// tollgate.yaml.
func (in *runInputs) hasImage(stage string) bool {
	a := in.imageArgs()
	return a.ctr != nil || a.ref != "" || in.configuredImage(stage) != ""
}

// configuredImage is the image tollgate.yaml names for a stage: sbom.image (else scan.image) for
// the SBOM, scan.image for the scan.
func (in *runInputs) configuredImage(stage string) string {
	if stage == sbom.Name {
		return sbomConfigImage(in.cfg.SBOM.Image, in.cfg.Scan.Image)
	}
	return strings.TrimSpace(in.cfg.Scan.Image)
}

// imageFor resolves a stage's image once per run: sbom and scan describe the same image, pinned
// by digest once (unless tollgate.yaml gives the SBOM an image of its own).
func (in *runInputs) imageFor(ctx context.Context, m *Tollgate, stage string) (*imageInput, error) {
	a, key := in.imageArgs(), ""
	if a.ctr == nil && a.ref == "" {
		key = in.configuredImage(stage)
	}
	in.mu.Lock()
	if in.resolved == nil {
		in.resolved = map[string]*resolvedImage{}
	}
	r := in.resolved[key]
	if r == nil {
		r = &resolvedImage{}
		in.resolved[key] = r
	}
	in.mu.Unlock()
	r.once.Do(func() { r.img, r.err = m.resolveImage(ctx, stage, a, key) })
	return r.img, r.err
}

// noImage skips an image stage when the run has no image: no argument and none configured (a
// configured image is never skipped: the gate would pass unchecked).
func noImage(stage string) func(in *runInputs) string {
	return func(in *runInputs) string {
		if in.hasImage(stage) {
			return ""
		}
		return "no image given (pass --image or --image-ref, build one with --build, or set scan.image in tollgate.yaml)"
	}
}

// set runs f under the lock: how stages record what they hand on.
func (in *runInputs) set(f func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f()
}

// keep stores files a release stage left for the reports directory and lists them as the
// result's artifacts.
func (in *runInputs) keep(res *model.StageResult, files map[string][]byte, what string) {
	in.set(func() {
		if in.files == nil {
			in.files = map[string][]byte{}
		}
		for _, name := range slices.Sorted(maps.Keys(files)) {
			in.files[name] = files[name]
			res.Artifacts = append(res.Artifacts, model.Artifact{Name: what + " (" + name + ")", Path: name, Type: "application/json"})
		}
	})
}

// target is the image a release stage works on, by precedence: the digest pushed in this run,
// else (useSigned) the one signed in this run, else the imageRef argument, else the first image
// tollgate.yaml names. The same order as the native runner's (cosign.Targets).
func (in *runInputs) target(useSigned bool, configured ...string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.published != "" {
		return in.published
	}
	if useSigned && in.signed != "" {
		return in.signed
	}
	if in.args.imageRef != "" {
		return in.args.imageRef
	}
	for _, c := range configured {
		if c = strings.TrimSpace(c); c != "" {
			return c
		}
	}
	return ""
}

// finished are the gated results of the stages that finished so far, in pipeline order (for the
// provenance). Release stages call it after every gate stage is done.
func (in *runInputs) finished() []*model.StageResult {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []*model.StageResult
	for _, r := range in.reports {
		if r == nil {
			continue
		}
		if res, err := r.result(); err == nil {
			out = append(out, res)
		}
	}
	return out
}

// trust is whom the run's verify and deploy trust, from the arguments.
func (in *runInputs) trust() verifyInputs {
	a := in.args
	return verifyInputs{publicKey: a.publicKey, identity: a.certificateIdentity, issuer: a.certificateOidcIssuer, ignoreTlog: !a.tlog,
		user: a.registryUsername, password: a.registryPassword, allowHTTP: a.allowHTTP}
}

// signing is the run's signing arguments for an image.
func (in *runInputs) signing(ref string) signInputs {
	a := in.args
	return signInputs{imageRef: ref, key: a.signingKey, password: a.signingKeyPassword, oidcToken: a.oidcToken,
		user: a.registryUsername, registryPassword: a.registryPassword, tlog: a.tlog, allowHTTP: a.allowHTTP}
}
