package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Validate configures the Kubernetes manifest validation stage (kubeconform).
type Validate struct {
	// Paths to manifests (files, directories, kustomization directories); default k8s/.
	Paths []string `yaml:"paths"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// KubernetesVersion selects the schemas (default 1.36.0).
	KubernetesVersion string `yaml:"kubernetes-version"`
	// Strict rejects unknown fields (default true).
	Strict *bool `yaml:"strict"`
	// CRDs lists files or directories holding CustomResourceDefinitions.
	CRDs []string `yaml:"crds"`
	// SchemaLocations are extra kubeconform schema locations (dir or URL template).
	SchemaLocations []string `yaml:"schema-locations"`
	// MissingSchemaSeverity is the severity of a resource with no schema (default HIGH).
	MissingSchemaSeverity model.Severity `yaml:"missing-schema-severity"`
	// PathsDefaulted is true when Paths came from the default, not the file.
	PathsDefaulted bool `yaml:"-"`
	// Discovered is true when Paths came from discovery (the file named none); empty Paths
	// then means discovery found no manifests.
	Discovered bool `yaml:"-"`
}

func (v *Validate) defaults() {
	if len(v.Paths) == 0 {
		v.Paths = []string{"k8s"}
		v.PathsDefaulted = true
	}
	if v.KubernetesVersion == "" {
		v.KubernetesVersion = "1.36.0"
	}
	if v.Strict == nil {
		t := true
		v.Strict = &t
	}
	if v.MissingSchemaSeverity == model.SeverityUnknown {
		v.MissingSchemaSeverity = model.SeverityHigh
	}
}
