package config

// SBOM configures the SBOM stage (syft).
type SBOM struct {
	// Image to describe: tarball, OCI layout dir or registry reference; default: scan.image.
	Image string `yaml:"image"`
	// Formats to write: spdx-json (SPDX 2.3), cyclonedx-json (CycloneDX 1.6); default both.
	// Unknown names are reported by the stage as bad input naming the config file.
	Formats []string `yaml:"formats"`
}

func (s *SBOM) defaults() {
	if len(s.Formats) == 0 {
		s.Formats = []string{"spdx-json", "cyclonedx-json"}
	}
}
