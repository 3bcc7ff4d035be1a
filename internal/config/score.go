package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Score configures the kube-score stage.
type Score struct {
	// Paths to manifests; default: the validate stage's paths.
	Paths []string `yaml:"paths"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// Critical is the severity of a kube-score CRITICAL result (default HIGH).
	Critical model.Severity `yaml:"critical"`
	// Warning is the severity of a kube-score WARNING result (default MEDIUM).
	Warning model.Severity `yaml:"warning"`
	// Checks overrides the severity of single kube-score checks by ID.
	Checks map[string]model.Severity `yaml:"checks"`
	// IgnoreChecks turns kube-score checks off by ID.
	IgnoreChecks []string `yaml:"ignore-checks"`
	// EnableChecks turns on optional kube-score checks by ID, in addition to the ones Tollgate
	// enables by default (container-seccomp-profile).
	EnableChecks []string `yaml:"enable-checks"`
}

func (s *Score) defaults() {
	if s.Critical == model.SeverityUnknown {
		s.Critical = model.SeverityHigh
	}
	if s.Warning == model.SeverityUnknown {
		s.Warning = model.SeverityMedium
	}
}
