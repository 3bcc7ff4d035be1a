package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/scan"
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
	// When the run started, for the reports.
	// +private
	StartedUnixNano int
	// How long the run took, in milliseconds.
	DurationMs int
}

// Run runs the whole pipeline once: Dockerfile lint, manifest validation and scoring, and — when
// an image is given or tollgate.yaml names one (scan.image, sbom.image) — SBOM and vulnerability
// scan. Stages run in parallel, each gated on its own; a stage that errors fails closed. The
// result carries the verdict and every report, so CI needs one call:
// `dagger call tollgate run reports export --path=tollgate-reports` keeps the reports and
// `... run check` fails on the gate (or both in one `dagger -c` script, see the README).
// A run in which every stage was skipped checked nothing and fails.
//
// +cache="session"
func (m *Tollgate) Run(
	ctx context.Context,
	// Image to describe and scan, e.g. the output of a build. Without it (or imageRef, or an
	// image in tollgate.yaml) the sbom and scan stages are skipped.
	// +optional
	image *dagger.Container,
	// Registry reference to describe and scan instead of a container; the tools resolve it in
	// their own containers, so use an address containers reach, not 127.0.0.1.
	// +optional
	imageRef string,
	// Registry username for imageRef.
	// +optional
	registryUsername string,
	// Registry password or token for imageRef.
	// +optional
	registryPassword *dagger.Secret,
	// Offline vulnerability DB for the scan (a trivy cache dir with db/trivy.db); default: trivy's
	// normal download.
	// +optional
	offlineDb *dagger.Directory,
) (*RunReport, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	in := &runInputs{cfg: cfg, image: imageArgs{ctr: image, ref: imageRef, user: registryUsername, password: registryPassword},
		offlineDB: offlineDb, sboms: dag.Directory()}
	stages := runStages()
	out := &RunReport{Stages: make([]*StageReport, len(stages)), StartedUnixNano: int(start.UnixNano())}
	runAll(ctx, m, stages, in, out.Stages)
	out.Sboms = in.sboms // every stage has finished
	out.DurationMs = int(time.Since(start).Milliseconds())
	out.Passed, out.ExitCode = verdict(out.Stages)
	if nothingChecked(out.Stages) {
		return nil, nothingToCheck(out.Stages)
	}
	return out, nil
}

// moduleStage is one stage of Run. Adding a stage to the module's pipeline is one entry in
// runStages: its name (as in tollgate.yaml stages), when it has nothing to work on, what it
// needs, whether it is a release stage, and how it runs. A build stage hands its container to
// sbom and scan with in.setBuiltImage (and those list it in their needs); a release stage
// (push, sign, deploy) sets afterGates.
type moduleStage struct {
	name string
	// skip says why the stage has nothing to work on in this run ("" when it runs), e.g. no image.
	skip func(in *runInputs) string
	// needs are stages that must finish first; when one of them did not pass, this one is skipped.
	needs []string
	// afterGates marks a release stage (push, sign, deploy...): it starts after every other stage
	// finished, and only when all of them passed their gates.
	afterGates bool
	run        func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error)
}

// runStages lists the pipeline's stages in order.
func runStages() []moduleStage {
	return []moduleStage{
		{name: "lint", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) { return m.Lint(ctx, nil) }},
		{name: "validate", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) {
			return m.Validate(ctx, nil, "", nil, nil)
		}},
		{name: "score", run: func(ctx context.Context, m *Tollgate, _ *runInputs) (*StageReport, error) { return m.Score(ctx, nil) }},
		{name: sbom.Name, skip: noImage(sbom.Name), run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			img, err := in.imageFor(ctx, m, sbom.Name)
			r, err := m.sbomStage(ctx, in.cfg, img, err, nil, time.Now())
			if err != nil {
				return nil, err
			}
			if r.Dir != nil {
				in.setSboms(r.Dir)
			}
			return r.Report, nil
		}},
		{name: scan.Name, skip: noImage(scan.Name), run: func(ctx context.Context, m *Tollgate, in *runInputs) (*StageReport, error) {
			img, err := in.imageFor(ctx, m, scan.Name)
			return m.scanStage(ctx, in.cfg, img, err, scanInputs{offlineDB: in.offlineDB}, time.Now())
		}},
	}
}

// runInputs is what the stages of one run share: the config, the arguments, and what one stage
// hands to another.
type runInputs struct {
	cfg       *config.Config
	image     imageArgs
	offlineDB *dagger.Directory

	mu       sync.Mutex
	resolved map[string]*resolvedImage // by configured image ("" for the arguments)
	sboms    *dagger.Directory
	built    *dagger.Container // the image a build stage produced in this run
}

// setBuiltImage is how a build stage hands its container to the image stages (which list it in
// their needs): without an image argument, sbom and scan describe it.
func (in *runInputs) setBuiltImage(ctr *dagger.Container) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.built = ctr
}

// args are the image arguments of the run, with the built image standing in for a missing one.
func (in *runInputs) args() imageArgs {
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
	a := in.args()
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
	a, key := in.args(), ""
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

// setSboms records the SBOMs of the run.
func (in *runInputs) setSboms(d *dagger.Directory) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.sboms = d
}

// noImage skips an image stage when the run has no image: no argument and none configured (a
// configured image is never skipped: the gate would pass unchecked).
func noImage(stage string) func(in *runInputs) string {
	return func(in *runInputs) string {
		if in.hasImage(stage) {
			return ""
		}
		return "no image given (pass --image or --image-ref, or set scan.image in tollgate.yaml)"
	}
}

// runAll runs the stages: gate stages in parallel (each after its needs), release stages after
// all gate stages, and only when they all passed. out[i] receives stage i's report.
func runAll(ctx context.Context, m *Tollgate, stages []moduleStage, in *runInputs, out []*StageReport) {
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
			if r, err = newStageReport(model.ErrorResult(s.name, model.Tool{Name: s.name}, err)); err != nil {
				r = &StageReport{Stage: s.name, Status: string(model.StatusError), ErrorKind: model.ErrKindTool, ExitCode: model.ExitTool, Summary: err.Error()}
			}
		}
		out[i] = r.timed(time.Since(start))
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
// tollgate.sarif, junit.xml, summary.md) and the SBOMs (sbom.spdx.json, sbom.cdx.json) when an
// image was described: the same files as the native CLI's --out directory.
func (p *RunReport) Reports() (*dagger.Directory, error) {
	run, err := p.run()
	if err != nil {
		return nil, err
	}
	dir := dag.Directory()
	if p.Sboms != nil {
		dir = dir.WithDirectory(".", p.Sboms)
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

// Gates runs the pipeline's gates on your project (lint, validate, score, and sbom and scan when
// tollgate.yaml names an image) and fails unless they pass; `dagger check` runs it. It fails
// when nothing was checked.
//
// +check
// +cache="session"
func (m *Tollgate) Gates(ctx context.Context) error {
	p, err := m.Run(ctx, nil, "", "", nil, nil)
	if err != nil {
		return err
	}
	return p.Check()
}
