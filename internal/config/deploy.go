package config

import "github.com/tollgate-dev/tollgate/internal/model"

// Deploy configures the deploy stage: server-side apply to a Kubernetes API server, after a
// server-side dry-run and image verification.
type Deploy struct {
	// Paths to manifests; default: the validate stage's paths.
	Paths []string `yaml:"paths"`
	// FailOn overrides the gate threshold for this stage.
	FailOn model.Severity `yaml:"fail-on"`
	// Kubeconfig is the kubeconfig file; default $KUBECONFIG. The stage deploys only when a
	// cluster is named (kubeconfig or context here, a flag, or KUBECONFIG): never to
	// ~/.kube/config's current context unasked.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context in the kubeconfig; default its current context.
	Context string `yaml:"context"`
	// Namespace for namespaced objects that name none; default the context's namespace, else
	// "default". It also holds the ApplySet parent when pruning.
	Namespace string `yaml:"namespace"`
	// DryRun only asks the server to judge every object (--dry-run=server); nothing is persisted.
	DryRun bool `yaml:"dry-run"`
	// PinImages rewrites references to the repository the pipeline pushed to that digest
	// (default true).
	PinImages *bool `yaml:"pin-images"`
	// Verify refuses images whose signature or attestations do not verify (default true). false
	// deploys unverified images and says so in a finding.
	Verify *bool `yaml:"verify"`
	// Timeout bounds the rollout wait and the wait for CRDs to be established, as a Go
	// duration (default 5m).
	Timeout string `yaml:"timeout"`
	// Prune deletes objects a previous deploy of the same ApplySet applied and this one no longer
	// has. Objects Tollgate did not apply are never touched.
	Prune bool `yaml:"prune"`
	// ApplySet is the name of the ApplySet parent ConfigMap (KEP-3659) used when pruning;
	// default "tollgate".
	ApplySet string `yaml:"applyset"`
	// ImageRef is a pushed image (repo@sha256:...) to pin to, set by a flag; by default the
	// push stage's result in the same run.
	ImageRef string `yaml:"-"`
}

func (d *Deploy) defaults() {
	t := true
	if d.PinImages == nil {
		d.PinImages = &t
	}
	if d.Verify == nil {
		v := true
		d.Verify = &v
	}
	if d.Timeout == "" {
		d.Timeout = "5m"
	}
	if d.ApplySet == "" {
		d.ApplySet = "tollgate"
	}
}
