package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// jsonWriter prints the stable machine contract of `--format json`:
//
//	{"version", "passed", "stages": [{"stage", "status", "tool": {"name", "version"},
//	  "findings": [{"rule", "severity", "message", "file", "line", "resource"}]}]}
//
// Fields may be added, never renamed, moved or removed. Locations stay flat on purpose:
// scripts read .file and .line without knowing the result model.
type jsonWriter struct{}

func (jsonWriter) FileName() string { return "tollgate.json" }

type jsonReport struct {
	Version    string     `json:"version"`
	Passed     bool       `json:"passed"`
	ExitCode   int        `json:"exit_code"`
	Source     string     `json:"source,omitempty"`
	Started    *time.Time `json:"started,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	// Error says why the run failed as a whole ("nothing to check: ..."); Skipped names the
	// stages that did not run, with why.
	Error   string      `json:"error,omitempty"`
	Skipped []string    `json:"skipped,omitempty"`
	Stages  []jsonStage `json:"stages"`
}

type jsonStage struct {
	Stage      string           `json:"stage"`
	Status     model.Status     `json:"status"`
	Tool       jsonTool         `json:"tool"`
	Findings   []jsonFinding    `json:"findings"`
	Suppressed []jsonFinding    `json:"suppressed"`
	Counts     map[string]int   `json:"counts"` // active findings by severity, plus SUPPRESSED
	Summary    string           `json:"summary,omitempty"`
	Error      string           `json:"error,omitempty"`
	ErrorKind  string           `json:"error_kind,omitempty"`
	DurationMS int64            `json:"duration_ms"`
	Artifacts  []model.Artifact `json:"artifacts,omitempty"`
	// Cached is true when the stage's result came from the result cache (gated at read time).
	Cached bool `json:"cached,omitempty"`
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonFinding struct {
	Rule        string            `json:"rule"`
	Severity    string            `json:"severity"`
	Message     string            `json:"message"`
	File        string            `json:"file"`
	Line        int               `json:"line"`
	Resource    string            `json:"resource"`
	Column      int               `json:"column,omitempty"`
	Title       string            `json:"title,omitempty"`
	Fix         string            `json:"fix,omitempty"`
	URL         string            `json:"url,omitempty"`
	Blocking    bool              `json:"blocking"`
	Note        bool              `json:"note,omitempty"` // informational, never blocking (an input not checked)
	Extra       map[string]string `json:"extra,omitempty"`
	Suppression *jsonSuppression  `json:"suppression,omitempty"`
}

type jsonSuppression struct {
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Expires string `json:"expires,omitempty"` // YYYY-MM-DD
}

func (jsonWriter) Write(w io.Writer, run *model.Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonFromRun(run)); err != nil {
		return fmt.Errorf("encode json report: %w", err)
	}
	return nil
}

func jsonFromRun(run *model.Run) jsonReport {
	out := jsonReport{
		Version:    run.Version,
		Passed:     run.Passed(),
		ExitCode:   run.ExitCode(),
		Source:     run.Source,
		DurationMS: run.Duration.Milliseconds(),
		Error:      run.Problem(),
		Skipped:    run.Skipped(),
		Stages:     make([]jsonStage, 0, len(run.Stages)),
	}
	if !run.Started.IsZero() {
		t := run.Started.UTC()
		out.Started = &t
	}
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		active, suppressed := split(s)
		counts, _, _ := countActive(s)
		js := jsonStage{
			Stage:      s.Stage,
			Status:     s.Status,
			Tool:       jsonTool{Name: s.Tool.Name, Version: s.Tool.Version},
			Findings:   make([]jsonFinding, 0, len(active)),
			Suppressed: make([]jsonFinding, 0, len(suppressed)),
			Counts:     map[string]int{},
			Summary:    s.Summary,
			Error:      s.Error,
			ErrorKind:  s.ErrorKind,
			DurationMS: s.Duration.Milliseconds(),
			Artifacts:  s.Artifacts,
			Cached:     s.Cached,
		}
		for sev, n := range counts {
			if n > 0 {
				js.Counts[model.Severity(sev).String()] = n
			}
		}
		if len(suppressed) > 0 {
			js.Counts["SUPPRESSED"] = len(suppressed)
		}
		for _, f := range active {
			js.Findings = append(js.Findings, jsonFromFinding(f))
		}
		for _, f := range suppressed {
			js.Suppressed = append(js.Suppressed, jsonFromFinding(f))
		}
		out.Stages = append(out.Stages, js)
	}
	return out
}

func jsonFromFinding(f model.Finding) jsonFinding {
	jf := jsonFinding{
		Rule:     f.RuleID,
		Severity: f.Severity.String(),
		Message:  f.Message,
		File:     filepath.ToSlash(f.Location.File),
		Line:     f.Location.Line,
		Resource: f.Location.Resource,
		Column:   f.Location.Column,
		Title:    f.Title,
		Fix:      f.Fix,
		URL:      f.URL,
		Blocking: f.Blocking,
		Note:     f.Note,
		Extra:    f.Extra,
	}
	if s := f.Suppression; s != nil {
		jf.Suppression = &jsonSuppression{Kind: s.Kind, Reason: s.Reason}
		if !s.Expires.IsZero() {
			jf.Suppression.Expires = s.Expires.Format(time.DateOnly)
		}
	}
	return jf
}
