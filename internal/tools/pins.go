// Package tools is the single source of truth for Tollgate's external tools: what they are,
// which version, which official image, how to build them natively and how to run them.
package tools

import (
	"fmt"
	"sort"
)

// Tool is one pinned external tool, in its two forms: a Go package for the native runner and
// the official image of the same version for the Dagger module.
type Tool struct {
	Name    string   // short name: trivy, syft...
	Module  string   // Go module path (for version checks)
	Package string   // Go package to `go install`
	Version string   // module version, e.g. v0.74.0
	Env     []string // extra build environment (trivy needs GOEXPERIMENT=jsonv2)
	Image   string   // official image, same version, pinned by tag
	// ImageBinary is the absolute path of the binary inside Image; several images have no shell.
	ImageBinary string
	// ImageUser is the user the image runs as ("" for root); mounts must be readable by it.
	ImageUser string
}

// Binary is the executable's file name.
func (t Tool) Binary() string { return t.Name }

// pinned is read-only: the pin table. Edit versions here and nowhere else.
var pinned = [...]Tool{
	{Name: "trivy", Module: "github.com/aquasecurity/trivy", Package: "github.com/aquasecurity/trivy/cmd/trivy", Version: "v0.74.0",
		Env: []string{"GOEXPERIMENT=jsonv2"}, Image: "aquasec/trivy:0.74.0", ImageBinary: "/usr/local/bin/trivy"},
	{Name: "syft", Module: "github.com/anchore/syft", Package: "github.com/anchore/syft/cmd/syft", Version: "v1.57.1",
		Image: "anchore/syft:v1.57.1", ImageBinary: "/syft"},
	{Name: "cosign", Module: "github.com/sigstore/cosign/v2", Package: "github.com/sigstore/cosign/v2/cmd/cosign", Version: "v2.6.5",
		Image: "ghcr.io/sigstore/cosign/cosign:v2.6.5", ImageBinary: "/ko-app/cosign", ImageUser: "65532"},
	{Name: "kubeconform", Module: "github.com/yannh/kubeconform", Package: "github.com/yannh/kubeconform/cmd/kubeconform", Version: "v0.8.0",
		Image: "ghcr.io/yannh/kubeconform:v0.8.0", ImageBinary: "/kubeconform"},
	{Name: "kube-score", Module: "github.com/zegl/kube-score", Package: "github.com/zegl/kube-score/cmd/kube-score", Version: "v1.20.0",
		Image: "zegl/kube-score:v1.20.0", ImageBinary: "/usr/bin/kube-score"},
	{Name: "gator", Module: "github.com/open-policy-agent/gatekeeper/v3", Package: "github.com/open-policy-agent/gatekeeper/v3/cmd/gator", Version: "v3.23.1",
		Image: "openpolicyagent/gator:v3.23.1", ImageBinary: "/gator", ImageUser: "65532"},
}

// All returns every pinned tool, sorted by name.
func All() []Tool {
	out := pinned[:]
	cp := make([]Tool, len(out))
	copy(cp, out)
	sort.Slice(cp, func(i, j int) bool { return cp[i].Name < cp[j].Name })
	return cp
}

// Get returns the pinned tool of that name.
func Get(name string) (Tool, error) {
	for _, t := range pinned {
		if t.Name == name {
			return t, nil
		}
	}
	return Tool{}, fmt.Errorf("unknown tool %q (known: trivy, syft, cosign, kubeconform, kube-score, gator)", name)
}

// MustGet is Get for names that are compile-time constants in Tollgate's own code.
func MustGet(name string) Tool {
	t, err := Get(name)
	if err != nil {
		panic(err)
	}
	return t
}

// GoImage is the Go toolchain image the Dagger module uses to fetch Go modules (the Kubernetes
// OpenAPI spec inside k8s.io/kubernetes) with go.sum verification; the Go release Tollgate is
// built and tested with.
const GoImage = "golang:1.26.8-bookworm"
