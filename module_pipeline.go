package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
)

// RunReport is the outcome of one pipeline run: the verdict, every stage's result, the reports
// and the SBOMs, all from the same run.
type RunReport struct {
	// True when at least one stage ran and every stage that ran passed its gate.
	Passed bool
	// The exit code the native CLI gives for the same result, since a Dagger call can only fail
	// or succeed: 0 passed, 1 a gate failed, 2 bad input, 3 a tool error (the highest wins).
	ExitCode int
	// Stage results in pipeline order (skipped stages say why).
	Stages []*StageReport
	// SBOMs of the image (an empty directory when no image was described).
	Sboms *dagger.Directory
	// The image pushed in this run, pinned by digest (repo@sha256:...); empty when nothing was
	// pushed. Every later stage used this digest, never a tag.
	Published string
	// What the release stages left (pushed.json, signed.json, attested.json,
	// provenance.slsa.json, vuln.cosign.json, deploy.json); in reports.
	// +private
	Artifacts *dagger.Directory
	// When the run started, for the reports.
	// +private
	StartedUnixNano int
	// How long the run took, in milliseconds.
	DurationMs int
}

// Run runs the whole pipeline once, as `tollgate run` does: build (when asked), then the gates
// in parallel — Dockerfile lint, manifest validation, scoring and policy, and SBOM and
// vulnerability scan when there is an image (built, given, or named in tollgate.yaml) — each
// gated on its own; a stage that errors fails closed. Only when every gate passed do the release
// stages run, one after another, each on the digest the one before handed on: push (publish the
// build), sign, attest (the run's SBOMs, scan and SLSA provenance), verify and deploy. Each
// release stage joins the run when its arguments (or tollgate.yaml) set it up: --repository
// pushes, --signing-key or --oidc-token signs and attests, --public-key or a keyless identity
// verifies, --kubeconfig deploys. One --registry-username/--registry-password pair serves every
// registry call of the run. The result carries the verdict and every report, so CI needs one
// call: `dagger call tollgate run reports export --path=tollgate-reports` keeps the reports and
// `... run check` fails on the gate (or both in one `dagger -c` script, see the README). A run in
// which every stage was skipped checked nothing and fails.
//
// +cache="session"
func (m *Tollgate) Run(
	ctx context.Context,
	// Image to describe and scan, e.g. the output of a build. Without it (or imageRef, --build, or
	// an image in tollgate.yaml) the sbom and scan stages are skipped.
	// +optional
	image *dagger.Container,
	// Registry reference to describe and scan instead of a container, also what the release
	// stages sign and verify when nothing is pushed. The tools resolve it in their own
	// containers, so use an address containers reach, not 127.0.0.1.
	// +optional
	imageRef string,
	// Registry username for every registry the run reads or writes (imageRef, push, sign, verify).
	// +optional
	registryUsername string,
	// Registry password or token that goes with registryUsername.
	// +optional
	registryPassword *dagger.Secret,
	// Offline vulnerability DB for the scan (a trivy cache dir with db/trivy.db); default: trivy's
	// normal download.
	// +optional
	offlineDb *dagger.Directory,
	// Build the project's Dockerfile first (as a build: section in tollgate.yaml does); sbom and
	// scan then describe the built image, and push publishes it.
	// +optional
	build bool,
	// Build arguments KEY=VALUE, added to tollgate.yaml's build.build-args.
	// +optional
	buildArgs []string,
	// Build secrets for RUN --mount=type=secret,id=ID steps, each mounted under its secret's name.
	// +optional
	buildSecrets []*dagger.Secret,
	// Repository to publish the built image to once every gate passed (registry/path without
	// tag); sets up the push stage. Default: push.repository.
	// +optional
	repository string,
	// Tags to push; default push.tags, else latest. Later stages use the digest, never a tag.
	// +optional
	tags []string,
	// cosign private key (the contents of cosign.key) to sign and attest with; sets up sign and
	// attest. Default: sign.key, a key file in the source.
	// +optional
	signingKey *dagger.Secret,
	// Password of the signing key.
	// +optional
	signingKeyPassword *dagger.Secret,
	// OIDC identity token to sign and attest keylessly (GitLab id_tokens, or a GitHub Actions
	// token with audience sigstore); sets up sign and attest.
	// +optional
	oidcToken *dagger.Secret,
	// Trusted cosign public key for verify and for deploy's image check; sets up verify.
	// Default: verify.key.
	// +optional
	publicKey *dagger.File,
	// Keyless trust for verify and deploy: the signing certificate's identity (with
	// certificateOidcIssuer); sets up verify. Regexp forms go in tollgate.yaml's verify section.
	// +optional
	certificateIdentity string,
	// Keyless trust: the OIDC issuer, e.g. https://token.actions.githubusercontent.com.
	// +optional
	certificateOidcIssuer string,
	// Kubeconfig of the cluster to deploy to, last and only after every other stage passed; sets
	// up deploy. Read in memory, never written or passed to a process.
	// +optional
	kubeconfig *dagger.Secret,
	// Deploy as a server-side dry-run only: the cluster judges every object, nothing persists.
	// +optional
	dryRun bool,
	// Source repository URL for the image's annotations and the provenance (the module does not
	// see .git), e.g. $GITHUB_SERVER_URL/$GITHUB_REPOSITORY or $CI_PROJECT_URL.
	// +optional
	sourceRepository string,
	// Source revision (commit) for the annotations and the provenance.
	// +optional
	sourceRevision string,
	// Builder ID for the provenance: the CI run's URL.
	// +optional
	builderId string,
	// Use the Rekor transparency log: sign and attest upload to it, verify requires entries.
	// false (for private infrastructure) is reported as a finding in each of them.
	// +default=true
	tlog bool,
	// Allow plain HTTP to registries on loopback or private addresses (e.g. one on the engine's
	// host) for sign, attest and verify.
	// +optional
	allowHttpRegistry bool,
) (*RunReport, error) {
	return m.run(ctx, runArgs{image: image, imageRef: imageRef, registryUsername: registryUsername, registryPassword: registryPassword,
		offlineDB: offlineDb, build: build, buildArgs: buildArgs, buildSecrets: buildSecrets, repository: repository, tags: tags,
		signingKey: signingKey, signingKeyPassword: signingKeyPassword, oidcToken: oidcToken, publicKey: publicKey,
		certificateIdentity: certificateIdentity, certificateOidcIssuer: certificateOidcIssuer, kubeconfig: kubeconfig, dryRun: dryRun,
		sourceRepository: sourceRepository, sourceRevision: sourceRevision, builderID: builderId, tlog: tlog, allowHTTP: allowHttpRegistry}, false)
}

// run runs the selected stages once; gatesOnly leaves the release stages out (a check).
func (m *Tollgate) run(ctx context.Context, a runArgs, gatesOnly bool) (*RunReport, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	in := newRunInputs(cfg, a, start)
	stages := selectStages(runStages(), in, gatesOnly)
	out := &RunReport{Stages: make([]*StageReport, len(stages)), StartedUnixNano: int(start.UnixNano())}
	runAll(ctx, m, stages, in, out.Stages)
	// Every stage has finished.
	out.Sboms, out.Published = in.sboms, in.published
	out.Artifacts = dag.Directory()
	for _, name := range slices.Sorted(maps.Keys(in.files)) {
		out.Artifacts = out.Artifacts.WithNewFile(name, string(in.files[name]))
	}
	out.DurationMs = int(time.Since(start).Milliseconds())
	out.Passed, out.ExitCode = verdict(out.Stages)
	if nothingChecked(out.Stages) {
		return nil, nothingToCheck(out.Stages)
	}
	return out, nil
}

// runAll runs the stages: gate stages in parallel (each after its needs), release stages after
// all gate stages, and only when they all passed. out[i] receives stage i's report.
func runAll(ctx context.Context, m *Tollgate, stages []moduleStage, in *runInputs, out []*StageReport) {
	in.set(func() { in.reports = out })
	done := map[string]chan struct{}{}
	for _, s := range stages {
		done[s.name] = make(chan struct{})
	}
	index := func(name string) int {
		return slices.IndexFunc(stages, func(s moduleStage) bool { return s.name == name })
	}
	runOne := func(i int) {
		s := stages[i]
		defer close(done[s.name])
		for _, n := range s.needs {
			j := index(n)
			if j < 0 {
				continue
			}
			<-done[n]
			// A need that failed blocks; one that was skipped (e.g. nothing to build) does not.
			if r := out[j]; r == nil || (r.Status != string(model.StatusPass) && r.Status != string(model.StatusSkipped)) {
				out[i] = skipped(s.name, n+" did not pass")
				return
			}
		}
		// After the needs: what a stage has to work on may come from one of them (a built image).
		if why := stageSkip(s, in); why != "" {
			out[i] = skipped(s.name, why)
			return
		}
		start := time.Now()
		r, err := s.run(ctx, m, in)
		if err != nil {
			// An engine or API failure is a stage error: the pipeline fails closed.
			r = errorReport(s.name, err)
		}
		in.set(func() { out[i] = r.timed(time.Since(start)) })
	}
	var wg sync.WaitGroup
	for i, s := range stages {
		if s.afterGates {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); runOne(i) }()
	}
	wg.Wait()
	gatesPassed, _ := verdict(out)
	for i, s := range stages {
		if !s.afterGates {
			continue
		}
		if !gatesPassed {
			out[i] = skipped(s.name, "not run: release stages run only when every gate (and every release stage before) passed")
			close(done[s.name])
			continue
		}
		runOne(i) // release stages run one after another, in list order
		if r := out[i]; r.Status != string(model.StatusPass) && r.Status != string(model.StatusSkipped) {
			gatesPassed = false
		}
	}
}

// stageSkip says why Run skips a stage, "" when it runs it: the stage is not in tollgate.yaml's
// stages, or it has nothing to work on.
func stageSkip(s moduleStage, in *runInputs) string {
	if len(in.cfg.Stages) > 0 && !slices.Contains(in.cfg.Stages, s.name) {
		return "not in tollgate.yaml stages"
	}
	if s.skip != nil {
		return s.skip(in)
	}
	return ""
}

// verdict is the run's outcome from its stages: passed when every stage passed or was skipped,
// and the native exit code (the highest of the stages that ran).
func verdict(stages []*StageReport) (passed bool, exitCode int) {
	passed = true
	for _, s := range stages {
		if s == nil {
			continue
		}
		if !s.Passed() {
			passed = false
		}
		if s.Status != string(model.StatusSkipped) {
			exitCode = max(exitCode, s.ExitCode)
		}
	}
	return passed, exitCode
}

// nothingChecked is true when no stage ran: a run that looked at nothing must not pass.
func nothingChecked(stages []*StageReport) bool {
	for _, s := range stages {
		if s != nil && s.Status != string(model.StatusSkipped) {
			return false
		}
	}
	return true
}

// nothingToCheck is the error of a run that checked nothing: why each stage was skipped, and how
// to point Tollgate at the inputs.
func nothingToCheck(stages []*StageReport) error {
	var why []string
	for _, s := range stages {
		why = append(why, fmt.Sprintf("  %s: %s", s.Stage, s.Summary))
	}
	return fmt.Errorf("tollgate: nothing to check (exit %d): every stage was skipped:\n%s\n"+
		"Point Tollgate at your project: run dagger in the project directory, or pass --source=DIR "+
		"(with -m, also from another directory); name inputs in tollgate.yaml (lint.dockerfiles, "+
		"validate.paths, scan.image) or pass --image/--image-ref", model.ExitUsage, strings.Join(why, "\n"))
}

func skipped(stage, why string) *StageReport {
	r, err := newStageReport(&model.StageResult{Stage: stage, Status: model.StatusSkipped, Error: why, Findings: []model.Finding{}})
	if err != nil {
		return &StageReport{Stage: stage, Status: string(model.StatusSkipped), Summary: why, ExitCode: model.ExitUsage}
	}
	return r
}

// run is the result model of the whole run, the source of every report.
func (p *RunReport) run() (*model.Run, error) {
	run := &model.Run{Version: version, Duration: time.Duration(p.DurationMs) * time.Millisecond}
	if p.StartedUnixNano > 0 {
		run.Started = time.Unix(0, int64(p.StartedUnixNano)).UTC()
	}
	for _, s := range p.Stages {
		r, err := s.result()
		if err != nil {
			return nil, err
		}
		run.Stages = append(run.Stages, r)
	}
	return run, nil
}

// Report renders every stage's result in one file.
func (p *RunReport) Report(
	// Format: table, json, sarif, junit or markdown.
	// +default="sarif"
	format string,
) (*dagger.File, error) {
	run, err := p.run()
	if err != nil {
		return nil, err
	}
	return renderRun(format, run)
}

// Summary is the run's Markdown summary (verdict, stages, blocking findings), e.g. for
// $GITHUB_STEP_SUMMARY or a merge-request comment.
func (p *RunReport) Summary() (string, error) {
	run, err := p.run()
	if err != nil {
		return "", err
	}
	b, err := report.Render("markdown", run)
	return string(b), err
}

// Reports returns a directory with the run in every format (report.txt, tollgate.json,
// tollgate.sarif, junit.xml, summary.md), the SBOMs (sbom.spdx.json, sbom.cdx.json) when an
// image was described, and what the release stages left: pushed.json (the pushed digest),
// signed.json and attested.json (what was signed and attested to which digest), the predicates
// Tollgate wrote (provenance.slsa.json, vuln.cosign.json) and deploy.json.
func (p *RunReport) Reports() (*dagger.Directory, error) {
	run, err := p.run()
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	if p.Sboms != nil {
		dir = dir.WithDirectory(".", p.Sboms)
	}
	if p.Artifacts != nil {
		dir = dir.WithDirectory(".", p.Artifacts)
	}
	for _, f := range report.Formats() {
		w, err := report.New(f)
		if err != nil {
			return nil, err
		}
		b, err := report.Render(f, run)
		if err != nil {
			return nil, err
		}
		dir = dir.WithNewFile(w.FileName(), string(b))
	}
	return dir, nil
}

// Check returns an error, failing the Dagger call, unless every gate passed. The message names
// each failed stage with its exit-code class.
func (p *RunReport) Check() error {
	if p.Passed {
		return nil
	}
	var failed []string
	for _, s := range p.Stages {
		if !s.Passed() {
			failed = append(failed, s.verdict())
		}
	}
	return fmt.Errorf("tollgate: %d gate(s) failed (exit %d):\n%s", len(failed), p.ExitCode, strings.Join(failed, "\n"))
}

// Gates runs the pipeline's gates on your project (lint, validate, score, policy, and sbom and
// scan when tollgate.yaml names an image or a build) and fails unless they pass; `dagger check`
// runs it. A check releases nothing (no push, sign or deploy), and it fails when nothing was
// checked.
//
// +check
// +cache="session"
func (m *Tollgate) Gates(ctx context.Context) error {
	p, err := m.run(ctx, runArgs{tlog: true}, true)
	if err != nil {
		return err
	}
	return p.Check()
}
