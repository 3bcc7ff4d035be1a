package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Scan configures the image vulnerability scan (trivy).
type Scan struct {
	// Image to scan: tarball, OCI layout dir or registry reference.
	Image string `yaml:"image"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// Severities reported at all (default all).
	Severities []model.Severity `yaml:"severities"`
	// IgnoreUnfixed drops findings with no fixed version.
	IgnoreUnfixed bool `yaml:"ignore-unfixed"`
	// VEX lists OpenVEX documents; not_affected and fixed statements suppress findings.
	VEX []string `yaml:"vex"`
	// TrivyIgnore is a .trivyignore (or .trivyignore.yaml) file; default .trivyignore, then
	// .trivyignore.yaml, at the root if present.
	TrivyIgnore string `yaml:"trivyignore"`
	// DB configures the vulnerability database.
	DB ScanDB `yaml:"db"`
	// Timeout for the scan, as a Go duration (default 10m).
	Timeout string `yaml:"timeout"`
}

// ScanDB says where trivy's vulnerability DB comes from.
type ScanDB struct {
	// Repository is a DB mirror (OCI repository), used instead of the default.
	Repository string `yaml:"repository"`
	// CacheDir is trivy's cache dir; with Offline it must already hold db/trivy.db.
	CacheDir string `yaml:"cache-dir"`
	// Offline never downloads: a missing or stale DB is an error.
	Offline bool `yaml:"offline"`
	// MaxAge is how old an offline DB may be (by its UpdatedAt) before the scan refuses it,
	// as a Go duration or a number of days ("7d"); default 7d.
	MaxAge string `yaml:"max-age"`
}

func (s *Scan) defaults() {
	if s.Timeout == "" {
		s.Timeout = "10m"
	}
	if s.DB.MaxAge == "" {
		s.DB.MaxAge = "7d"
	}
}
