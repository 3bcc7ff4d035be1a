package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Policy configures the policy stage: Gatekeeper constraints run with gator, and the Pod
// Security Standards.
type Policy struct {
	// Paths are files or directories of the project's own ConstraintTemplates and Constraints,
	// on top of the default library (default none). Other documents there are ignored.
	Paths []string `yaml:"paths"`
	// Manifests to check; default: the validate stage's paths.
	Manifests []string `yaml:"manifests"`
	// DefaultLibrary turns Tollgate's own library (policies/ in its repository) on or off
	// (default on).
	DefaultLibrary *bool `yaml:"default-library"`
	// Disabled lists constraints (by metadata.name) that do not run.
	Disabled []string `yaml:"disabled"`
	// Constraints changes single constraints by name without copying them.
	Constraints map[string]ConstraintOverride `yaml:"constraints"`
	// PodSecurity configures the Pod Security Standards check.
	PodSecurity PodSecurity `yaml:"pod-security"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// DefaultNamespace is where documents without metadata.namespace land, as with
	// `kubectl apply` (default "default").
	DefaultNamespace string `yaml:"default-namespace"`
	// Timeout bounds one gator run, as a Go duration (default 5m).
	Timeout string `yaml:"timeout"`
}

// ConstraintOverride changes one constraint.
type ConstraintOverride struct {
	// EnforcementAction replaces spec.enforcementAction: deny blocks the gate, warn and dryrun
	// are reported without blocking.
	EnforcementAction EnforcementAction `yaml:"enforcement-action"`
	// Parameters replace the constraint's parameters of the same name (spec.parameters.NAME).
	Parameters map[string]any `yaml:"parameters"`
	// Severity of the constraint's deny findings (default HIGH).
	Severity model.Severity `yaml:"severity"`
}

// PodSecurity configures the Pod Security Standards check.
type PodSecurity struct {
	// Level applies where no Namespace among the inputs sets pod-security.kubernetes.io/enforce:
	// privileged (no checks), baseline or restricted (default).
	Level PodSecurityLevel `yaml:"level"`
	// Version of the standards: latest (default) or v1.N.
	Version PodSecurityVersion `yaml:"version"`
	// Severity of a violation (default HIGH).
	Severity model.Severity `yaml:"severity"`
}

// EnforcementAction is a Gatekeeper enforcement action Tollgate accepts in tollgate.yaml.
type EnforcementAction string

// UnmarshalYAML accepts deny, warn and dryrun, naming the line otherwise.
func (a *EnforcementAction) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "deny", "warn", "dryrun":
		if n.Kind == yaml.ScalarNode {
			*a = EnforcementAction(n.Value)
			return nil
		}
	}
	return fmt.Errorf("line %d: enforcement-action %q: want deny, warn or dryrun", n.Line, n.Value)
}

// PodSecurityLevel is a Pod Security Standards level.
type PodSecurityLevel string

// UnmarshalYAML accepts privileged, baseline and restricted, naming the line otherwise.
func (l *PodSecurityLevel) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "privileged", "baseline", "restricted":
		if n.Kind == yaml.ScalarNode {
			*l = PodSecurityLevel(n.Value)
			return nil
		}
	}
	return fmt.Errorf("line %d: unknown Pod Security level %q: want privileged, baseline or restricted", n.Line, n.Value)
}

// PodSecurityVersion is a Pod Security Standards version: latest or v1.N.
type PodSecurityVersion string

var podSecurityVersionRe = regexp.MustCompile(`^(latest|v1\.(0|[1-9][0-9]*))$`)

// UnmarshalYAML accepts latest and v1.N, naming the line otherwise.
func (v *PodSecurityVersion) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || !podSecurityVersionRe.MatchString(n.Value) {
		return fmt.Errorf("line %d: Pod Security version %q: want latest or v1.N (e.g. v1.30)", n.Line, n.Value)
	}
	*v = PodSecurityVersion(n.Value)
	return nil
}

// DefaultLibraryOn reports whether the default library runs.
func (p *Policy) DefaultLibraryOn() bool { return p.DefaultLibrary == nil || *p.DefaultLibrary }

// TimeoutDuration is Timeout parsed; Parse has already validated it.
func (p *Policy) TimeoutDuration() time.Duration {
	d, err := time.ParseDuration(p.Timeout)
	if err != nil || d <= 0 {
		return 5 * time.Minute
	}
	return d
}

func (p *Policy) defaults() {
	if p.PodSecurity.Level == "" {
		p.PodSecurity.Level = "restricted"
	}
	if p.PodSecurity.Version == "" {
		p.PodSecurity.Version = "latest"
	}
	if p.PodSecurity.Severity == model.SeverityUnknown {
		p.PodSecurity.Severity = model.SeverityHigh
	}
	if p.DefaultNamespace == "" {
		p.DefaultNamespace = "default"
	}
	if p.Timeout == "" {
		p.Timeout = "5m"
	}
}

func (p *Policy) validate(file string) error {
	if d, err := time.ParseDuration(p.Timeout); err != nil || d <= 0 {
		return &model.InputError{File: file, Err: fmt.Errorf("policy.timeout: want a positive Go duration like 5m, got %q", p.Timeout)}
	}
	for _, n := range p.Disabled {
		if strings.TrimSpace(n) == "" {
			return &model.InputError{File: file, Err: fmt.Errorf("policy.disabled: empty constraint name")}
		}
	}
	return nil
}
