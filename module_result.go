package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

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
	// One-line account of the gate decision, the error or why the stage was skipped.
	Summary string
	// Why an errored stage failed closed: "input" (bad input or configuration; fix the file the
	// summary names) or "tool" (a tool or infrastructure failure); empty unless status is error.
	ErrorKind string
	// The exit code the native CLI gives for this result alone, since a Dagger call can only
	// fail or succeed: 0 passed, 1 gate failed, 2 bad input or nothing checked (skipped),
	// 3 tool error.
	ExitCode int
	// How long the stage took, in milliseconds.
	DurationMs int
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
	sr := &StageReport{Stage: r.Stage, Status: string(r.Status), Summary: r.Summary, ResultJSON: string(b),
		DurationMs: int(r.Duration.Milliseconds()), ExitCode: stageExitCode(r)}
	if r.Status == model.StatusError {
		sr.ErrorKind = r.ErrorKind
	}
	if r.Status == model.StatusError || r.Status == model.StatusSkipped {
		sr.Summary = r.Error
	}
	for _, f := range r.Active() {
		sr.Findings = append(sr.Findings, &Finding{Rule: f.RuleID, Severity: f.Severity.String(), Message: f.Message,
			File: f.Location.File, Line: f.Location.Line, Resource: f.Location.Resource, Blocking: f.Blocking})
	}
	return sr, nil
}

// stageExitCode is the native exit code of a run of this one stage: a skipped stage checked
// nothing, and a run that checks nothing exits 2.
func stageExitCode(r *model.StageResult) int {
	if r.Status == model.StatusSkipped {
		return model.ExitUsage
	}
	return (&model.Run{Stages: []*model.StageResult{r}}).ExitCode()
}

func (r *StageReport) result() (*model.StageResult, error) {
	var res model.StageResult
	if err := json.Unmarshal([]byte(r.ResultJSON), &res); err != nil {
		return nil, fmt.Errorf("decode %s result: %w", r.Stage, err)
	}
	return &res, nil
}

// timed returns the report with its duration set to d when the stage did not record one.
func (r *StageReport) timed(d time.Duration) *StageReport {
	res, err := r.result()
	if err != nil || res.Duration > 0 {
		return r
	}
	res.Duration = d
	out, err := newStageReport(res)
	if err != nil {
		return r
	}
	return out
}

// Passed is true when the stage passed its gate or was skipped (a skipped stage does not fail a
// run in which other stages ran).
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
	return renderRun(format, &model.Run{Version: version, Duration: res.Duration, Stages: []*model.StageResult{res}})
}

// Check returns an error, failing the Dagger call, unless the stage ran and passed its gate: a
// skipped stage checked nothing, so it fails too. Use it as the last link of a chain in CI:
// `dagger call tollgate lint check`.
func (r *StageReport) Check() error {
	if r.Status == string(model.StatusPass) {
		return nil
	}
	return fmt.Errorf("%s", r.verdict())
}

// verdict is one line naming the stage, its status with the exit-code class, and why.
func (r *StageReport) verdict() string {
	switch r.Status {
	case string(model.StatusError):
		return fmt.Sprintf("%s: %s error (exit %d): %s", r.Stage, kindOr(r.ErrorKind), r.ExitCode, r.Summary)
	case string(model.StatusSkipped):
		return fmt.Sprintf("%s: nothing checked (exit %d): %s", r.Stage, r.ExitCode, r.Summary)
	}
	v := fmt.Sprintf("%s %s (exit %d): %s", r.Stage, r.Status, r.ExitCode, r.Summary)
	if ids := r.blockingRules(maxRulesInVerdict); ids != "" {
		v += ": " + ids
	}
	return v
}

// maxRulesInVerdict bounds the rule IDs a failed check names; the reports list every finding.
const maxRulesInVerdict = 5

// blockingRules names the distinct rules of the blocking findings, at most n, and how many more.
func (r *StageReport) blockingRules(n int) string {
	var ids []string
	more := 0
	for _, f := range r.Findings {
		if !f.Blocking || slices.Contains(ids, f.Rule) {
			continue
		}
		if len(ids) == n {
			more++
			continue
		}
		ids = append(ids, f.Rule)
	}
	out := strings.Join(ids, ", ")
	if more > 0 {
		out += fmt.Sprintf(" and %d more", more)
	}
	return out
}

func kindOr(kind string) string {
	if kind == "" {
		return model.ErrKindTool
	}
	return kind
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
