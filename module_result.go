package main

import (
	"encoding/json"
	"fmt"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/report"
)

// StageReport is the gated result of one stage.
type StageReport struct {
	// Stage name (lint, validate, score, sbom, scan).
	Stage string
	// Gate status: pass, fail, error or skipped.
	Status string
	// One-line account of the gate decision or the error.
	Summary string
	// Findings that count against the gate (suppressed ones are in the reports).
	Findings []*Finding
	// The full result as JSON (Tollgate's result model), the source of every report.
	ResultJSON string
}

// Finding is one problem a stage reported.
type Finding struct {
	// Rule or CVE ID.
	Rule string
	// CRITICAL, HIGH, MEDIUM, LOW or INFO.
	Severity string
	// What is wrong.
	Message string
	// File the finding is in, relative to the source.
	File string
	// 1-based line, 0 when not known.
	Line int
	// Resource (Kind/namespace/name, image, package).
	Resource string
	// Whether this finding made the gate fail.
	Blocking bool
}

func newStageReport(r *model.StageResult) (*StageReport, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode %s result: %w", r.Stage, err)
	}
	sr := &StageReport{Stage: r.Stage, Status: string(r.Status), Summary: r.Summary, ResultJSON: string(b)}
	if r.Status == model.StatusError || r.Status == model.StatusSkipped {
		sr.Summary = r.Error
	}
	for _, f := range r.Active() {
		sr.Findings = append(sr.Findings, &Finding{Rule: f.RuleID, Severity: f.Severity.String(), Message: f.Message,
			File: f.Location.File, Line: f.Location.Line, Resource: f.Location.Resource, Blocking: f.Blocking})
	}
	return sr, nil
}

func (r *StageReport) result() (*model.StageResult, error) {
	var res model.StageResult
	if err := json.Unmarshal([]byte(r.ResultJSON), &res); err != nil {
		return nil, fmt.Errorf("decode %s result: %w", r.Stage, err)
	}
	return &res, nil
}

// Passed is true when the stage passed its gate (or was skipped).
func (r *StageReport) Passed() bool {
	return r.Status == string(model.StatusPass) || r.Status == string(model.StatusSkipped)
}

// Report renders this stage's result as a file.
func (r *StageReport) Report(
	// Format: table, json, sarif, junit or markdown.
	// +default="sarif"
	format string,
) (*dagger.File, error) {
	res, err := r.result()
	if err != nil {
		return nil, err
	}
	return renderRun(format, &model.Run{Version: version, Stages: []*model.StageResult{res}})
}

// Check returns an error, failing the Dagger call, unless the stage passed its gate.
// Use it as the last link of a chain in CI: `dagger call lint check`.
func (r *StageReport) Check() error {
	if r.Passed() {
		return nil
	}
	return fmt.Errorf("%s %s: %s", r.Stage, r.Status, r.Summary)
}

func renderRun(format string, run *model.Run) (*dagger.File, error) {
	w, err := report.New(format)
	if err != nil {
		return nil, err
	}
	b, err := report.Render(format, run)
	if err != nil {
		return nil, err
	}
	return dag.File(w.FileName(), string(b)), nil
}

// version is Tollgate's version as reported in results.
const version = model.Version
