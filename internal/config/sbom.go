package config

// SBOM configures the SBOM stage (syft).
type SBOM struct {
	// Image to describe; default: the scan stage's image.
	Image string `yaml:"image"`
	// Formats to write: spdx-json, cyclonedx-json (default both).
	Formats []string `yaml:"formats"`
}

func (s *SBOM) defaults() {
	if len(s.Formats) == 0 {
		s.Formats = []string{"spdx-json", "cyclonedx-json"}
	}
}
