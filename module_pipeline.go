package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
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
// image is given or tollgate.yaml names one (scan.image, sbom.image) — SBOM and vulnerability
// scan. Stages run in parallel; each is gated on its own, and a stage that errors fails closed.
//
// +cache="session"
func (m *Tollgate) Pipeline(
	ctx context.Context,
	// Image to describe and scan, e.g. the output of a build. Without it (or imageRef, or an
	// image in tollgate.yaml) the sbom and scan stages are skipped.
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
		if why := pipelineSkip(j.name, cfg, hasImage); why != "" {
			out.Stages[i] = skipped(j.name, why)
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

// pipelineSkip says why the pipeline skips a stage, "" when it runs it: the stage is not in
// tollgate.yaml's stages, or it needs an image and none was given as an argument or in
// tollgate.yaml (a configured image counts: skipping a configured scan would pass it unchecked).
func pipelineSkip(stage string, cfg *config.Config, hasImage bool) string {
	if len(cfg.Stages) > 0 && !slices.Contains(cfg.Stages, stage) {
		return "not in tollgate.yaml stages"
	}
	noImage := "no image given (pass --image or --image-ref, or set scan.image in tollgate.yaml)"
	switch {
	case stage == "scan" && !hasImage && strings.TrimSpace(cfg.Scan.Image) == "":
		return noImage
	case stage == "sbom" && !hasImage && sbomConfigImage(cfg.SBOM.Image, cfg.Scan.Image) == "":
		return noImage
	}
	return ""
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

// Gates runs the pipeline's gates on the workspace (lint, validate, score, and sbom and scan
// when tollgate.yaml names an image) and fails unless they pass; `dagger check` runs it.
//
// +check
// +cache="session"
func (m *Tollgate) Gates(ctx context.Context) error {
	p, err := m.Pipeline(ctx, nil, "", "", nil, nil)
	if err != nil {
		return err
	}
	return p.Check()
}
