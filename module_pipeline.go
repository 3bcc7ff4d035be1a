package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// PipelineReport is the outcome of every stage of one pipeline run.
type PipelineReport struct {
	// True when every stage passed its gate (skipped stages do not fail).
	Passed bool
	// Stage results in pipeline order.
	Stages []*StageReport
	// SBOMs of the image (empty when no image was given).
	Sboms *dagger.Directory
}

// Pipeline runs every stage: Dockerfile lint, manifest validation and scoring, and — when an
// image is given — SBOM and vulnerability scan. Stages run in parallel; each is gated on its
// own, and a stage that errors fails closed.
func (m *Tollgate) Pipeline(
	ctx context.Context,
	// Image to describe and scan, e.g. the output of a build. Without it (or imageRef) the sbom
	// and scan stages are skipped.
	// +optional
	image *dagger.Container,
	// Registry reference to describe and scan instead of a container.
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
) (*PipelineReport, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	enabled := func(stage string) bool {
		if len(cfg.Stages) == 0 {
			return true
		}
		for _, s := range cfg.Stages {
			if s == stage {
				return true
			}
		}
		return false
	}
	hasImage := image != nil || imageRef != ""
	type job struct {
		name string
		run  func() (*StageReport, error)
	}
	var sboms *dagger.Directory
	jobs := []job{
		{"lint", func() (*StageReport, error) { return m.Lint(ctx, nil) }},
		{"validate", func() (*StageReport, error) { return m.Validate(ctx, nil, "", nil, nil) }},
		{"score", func() (*StageReport, error) { return m.Score(ctx, nil) }},
		{"sbom", func() (*StageReport, error) {
			r, err := m.Sbom(ctx, image, imageRef, registryUsername, registryPassword, nil)
			if err != nil {
				return nil, err
			}
			sboms = r.Files
			return r.Report, nil
		}},
		{"scan", func() (*StageReport, error) {
			return m.Scan(ctx, image, imageRef, registryUsername, registryPassword, "", offlineDb, nil, nil, false, nil)
		}},
	}
	out := &PipelineReport{Stages: make([]*StageReport, len(jobs)), Sboms: dag.Directory()}
	var wg sync.WaitGroup
	for i, j := range jobs {
		switch {
		case !enabled(j.name):
			out.Stages[i] = skipped(j.name, "not in tollgate.yaml stages")
			continue
		case (j.name == "sbom" || j.name == "scan") && !hasImage:
			out.Stages[i] = skipped(j.name, "no image given (pass --image or --image-ref)")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := j.run()
			if err != nil {
				// An engine or API failure is a stage error: the pipeline fails closed.
				r, err = newStageReport(model.ErrorResult(j.name, model.Tool{Name: j.name}, err))
				if err != nil {
					r = &StageReport{Stage: j.name, Status: string(model.StatusError), Summary: err.Error()}
				}
			}
			out.Stages[i] = r
		}()
	}
	wg.Wait()
	if sboms != nil {
		out.Sboms = sboms
	}
	out.Passed = true
	for _, s := range out.Stages {
		if !s.Passed() {
			out.Passed = false
		}
	}
	return out, nil
}

func skipped(stage, why string) *StageReport {
	r, err := newStageReport(&model.StageResult{Stage: stage, Status: model.StatusSkipped, Error: why, Findings: []model.Finding{}})
	if err != nil {
		return &StageReport{Stage: stage, Status: string(model.StatusSkipped), Summary: why}
	}
	return r
}

// Report renders every stage's result in one file.
func (p *PipelineReport) Report(
	// Format: table, json, sarif, junit or markdown.
	// +default="sarif"
	format string,
) (*dagger.File, error) {
	run := &model.Run{Version: version}
	for _, s := range p.Stages {
		r, err := s.result()
		if err != nil {
			return nil, err
		}
		run.Stages = append(run.Stages, r)
	}
	return renderRun(format, run)
}

// Check returns an error, failing the Dagger call, unless every gate passed.
func (p *PipelineReport) Check() error {
	var failed []string
	for _, s := range p.Stages {
		if !s.Passed() {
			failed = append(failed, fmt.Sprintf("%s %s: %s", s.Stage, s.Status, s.Summary))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("tollgate: %d gate(s) failed:\n%s", len(failed), strings.Join(failed, "\n"))
}

// Gates runs the image-independent gates (lint, validate, score) on the workspace and fails
// unless they pass; `dagger check` runs it.
//
// +check
func (m *Tollgate) Gates(ctx context.Context) error {
	p, err := m.Pipeline(ctx, nil, "", "", nil, nil)
	if err != nil {
		return err
	}
	return p.Check()
}
