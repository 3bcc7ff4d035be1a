// Package model holds Tollgate's result model: findings, stage results and a run.
// Every stage produces it and every report format consumes it.
package model

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Severity orders findings; the zero value is unknown and ranks below INFO.
type Severity int

// Severities from least to most severe.
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"UNKNOWN", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "UNKNOWN"
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(v string) (Severity, error) {
	u := strings.ToUpper(strings.TrimSpace(v))
	for i, n := range severityNames {
		if n == u {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want one of CRITICAL, HIGH, MEDIUM, LOW, INFO)", v)
}

// MarshalText writes the severity name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Status is a stage's outcome.
type Status string

// Stage statuses. Error means the stage could not decide (tool crash, bad input): it fails closed.
const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
)

// Location points at the thing a finding is about.
type Location struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Resource string `json:"resource,omitempty"` // Kind/namespace/name, image ref, package...
}

// Finding is one problem reported by a stage.
type Finding struct {
	Stage    string   `json:"stage,omitempty"`
	RuleID   string   `json:"rule"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title,omitempty"`
	Message  string   `json:"message"`
	Location Location `json:"location"`
	Fix      string   `json:"fix,omitempty"`
	URL      string   `json:"url,omitempty"`
	// Extra carries stage-specific detail (package, installed/fixed version...) for reports.
	Extra map[string]string `json:"extra,omitempty"`
	// Suppression is set when an ignore entry, inline comment or VEX statement silenced the finding.
	Suppression *Suppression `json:"suppression,omitempty"`
	// Blocking is set by the gate when this finding made the stage fail.
	Blocking bool `json:"blocking,omitempty"`
	// Note marks an informational finding about the run itself (an input that was not
	// checked, and why): reported like any finding, never blocking whatever the threshold.
	Note bool `json:"note,omitempty"`
}

// Suppression says why a finding does not count against the gate.
type Suppression struct {
	Kind   string `json:"kind"` // config, inline, trivyignore, vex, annotation
	Reason string `json:"reason"`
	// Expires is the date after which the suppression stops applying; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// Rule is the metadata of a check, used for SARIF rule descriptors and docs.
type Rule struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary,omitempty"` // one-line rationale
	Fix      string   `json:"fix,omitempty"`
	URL      string   `json:"url,omitempty"`
}

// Tool names the program that produced a stage's findings.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Artifact is a file a stage produced (SBOM, raw tool output...).
type Artifact struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type,omitempty"` // media type or format name
}

// StageResult is the outcome of one stage.
type StageResult struct {
	Stage     string        `json:"stage"`
	Status    Status        `json:"status"`
	Tool      Tool          `json:"tool"`
	Findings  []Finding     `json:"findings"`
	Rules     []Rule        `json:"rules,omitempty"`
	Artifacts []Artifact    `json:"artifacts,omitempty"`
	Duration  time.Duration `json:"duration"`
	// Error explains a StatusError or StatusSkipped result.
	Error string `json:"error,omitempty"`
	// Summary is a one-line account of the gate decision.
	Summary string `json:"summary,omitempty"`
	// ErrorKind classifies StatusError: "input" (exit 2) or "tool" (exit 3).
	ErrorKind string `json:"error_kind,omitempty"`
	// Cached is set when the result was read from the result cache instead of running the stage
	// (the gate is still applied when it is read).
	Cached bool `json:"cached,omitempty"`
}

// Active returns the findings that are not suppressed.
func (r *StageResult) Active() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Suppression == nil {
			out = append(out, f)
		}
	}
	return out
}

// Suppressed returns the suppressed findings.
func (r *StageResult) Suppressed() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Suppression != nil {
			out = append(out, f)
		}
	}
	return out
}

// Run is a whole pipeline run.
type Run struct {
	Version  string         `json:"version"` // Tollgate's version
	Source   string         `json:"source,omitempty"`
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration"`
	Stages   []*StageResult `json:"stages"`
}

// NothingChecked reports whether no stage checked anything: every stage was skipped (no
// Dockerfile, no manifest, no image found or named). A fail-closed gate never passes that.
func (r *Run) NothingChecked() bool {
	for _, s := range r.Stages {
		if s != nil && s.Status != StatusSkipped {
			return false
		}
	}
	return true
}

// NothingToCheck is the message of a run that checked nothing.
const NothingToCheck = "nothing to check: no stage found an input. Point Tollgate at inputs: " +
	"run it in the project directory (or `tollgate run DIR`), name them in tollgate.yaml " +
	"(lint.dockerfiles, validate.paths, scan.image; `tollgate init` writes one from what it finds), " +
	"pass them as arguments (`tollgate validate PATH`), or give an image with --image"

// Skipped lists the skipped stages with why, e.g. "scan (no image: set scan.image or --image)".
func (r *Run) Skipped() []string {
	var out []string
	for _, s := range r.Stages {
		if s == nil || s.Status != StatusSkipped {
			continue
		}
		why := strings.TrimPrefix(strings.TrimSpace(s.Error), "skipped: ")
		if why == "" {
			why = s.Summary
		}
		if why == "" {
			out = append(out, s.Stage)
			continue
		}
		out = append(out, s.Stage+" ("+why+")")
	}
	return out
}

// Problem is what makes a run fail as a whole rather than stage by stage ("" when nothing
// does): today, a run that checked nothing.
func (r *Run) Problem() string {
	if r.NothingChecked() {
		return NothingToCheck
	}
	return ""
}

// Passed reports whether every stage that ran passed its gate, and at least one ran.
func (r *Run) Passed() bool {
	if r.NothingChecked() {
		return false
	}
	for _, s := range r.Stages {
		if s.Status == StatusFail || s.Status == StatusError {
			return false
		}
	}
	return true
}

// ExitCode maps a run to the CLI's documented exit codes:
// 0 all gates passed, 1 a gate failed, 2 bad input, 3 a tool or infrastructure error.
func (r *Run) ExitCode() int {
	code := 0
	for _, s := range r.Stages {
		switch {
		case s.Status == StatusError && s.ErrorKind == ErrKindInput:
			code = max(code, ExitUsage)
		case s.Status == StatusError:
			code = max(code, ExitTool)
		case s.Status == StatusFail:
			code = max(code, ExitFail)
		}
	}
	if r.NothingChecked() {
		code = max(code, ExitUsage)
	}
	return code
}

// Exit codes of the CLI.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
	ExitTool  = 3
)

// Error kinds for StageResult.ErrorKind.
const (
	ErrKindInput = "input"
	ErrKindTool  = "tool"
)

// UnmarshalYAML reads a severity name and names the line on error (yaml.v3 drops the line
// for TextUnmarshaler errors).
func (s *Severity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a severity name (CRITICAL, HIGH, MEDIUM, LOW, INFO), got a %s", n.Line, kindName(n.Kind))
	}
	v, err := ParseSeverity(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	}
	return "non-scalar"
}

// Version is Tollgate's own version, reported in every run.
const Version = "0.1.0"
