package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Lint configures the Dockerfile lint stage.
type Lint struct {
	// Dockerfiles to lint, relative to the project root (default: Dockerfile).
	Dockerfiles []string `yaml:"dockerfiles"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// AllowedRegistries lists registries base images may come from; empty allows any.
	AllowedRegistries []string `yaml:"allowed-registries"`
	// Rules tunes single rules by ID (docs/rules.md lists them). The lint stage rejects an
	// unknown ID: config cannot import the rule registry without an import cycle.
	Rules map[string]RuleSetting `yaml:"rules"`
	// DockerfilesDefaulted is true when Dockerfiles came from the default, not the file.
	DockerfilesDefaulted bool `yaml:"-"`
}

// RuleSetting changes one rule's severity or turns it off.
type RuleSetting struct {
	Severity model.Severity `yaml:"severity"`
	Disabled bool           `yaml:"disabled"`
}

func (l *Lint) defaults() {
	if len(l.Dockerfiles) == 0 {
		l.Dockerfiles = []string{"Dockerfile"}
		l.DockerfilesDefaulted = true
	}
}
