// Package tools is the single source of truth for Tollgate's external tools: what they are,
// which version, which official image, how to build them natively and how to run them.
package tools

import (
	"fmt"
	"sort"
	"strings"
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
	// ViaModule builds the tool inside a throwaway module that requires Module@Version,
	// because `go install PKG@VERSION` refuses modules whose go.mod has exclude or replace
	// directives (BuildKit's does). Versions still come from the Go checksum database.
	ViaModule bool
	// StagingVersion marks a command of k8s.io/kubernetes itself (kube-apiserver). `go install`
	// refuses that module because its go.mod replaces the k8s.io staging modules with local
	// directories, so the installer builds it in a generated module that replaces each of them
	// with this published version instead (v0.36.0 for v1.36.0). See install_kubernetes.go.
	StagingVersion string
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
	// The native build stage's private builder. Same release as the BuildKit client library in
	// go.mod; it runs build steps with the OS's runc (OCI worker), so it needs root and runc.
	{Name: "buildkitd", Module: "github.com/moby/buildkit", Package: "github.com/moby/buildkit/cmd/buildkitd", Version: "v0.32.2",
		Image: "moby/buildkit:v0.32.2", ImageBinary: "/usr/bin/buildkitd", ViaModule: true},
	// kube-apiserver is a test dependency: the deploy stage's tests run it (with etcd) as a real
	// API server, the way controller-runtime's envtest does.
	{Name: "kube-apiserver", Module: "k8s.io/kubernetes", Package: "k8s.io/kubernetes/cmd/kube-apiserver", Version: "v1.36.0",
		StagingVersion: "v0.36.0", Image: "registry.k8s.io/kube-apiserver:v1.36.0", ImageBinary: "/usr/local/bin/kube-apiserver"},
	// helm renders the Helm charts that discovery finds (`helm template`), offline. The image is
	// alpine/helm (alpine, helm at /usr/bin/helm, entrypoint helm, root), tagged by helm's version.
	{Name: "helm", Module: "helm.sh/helm/v3", Package: "helm.sh/helm/v3/cmd/helm", Version: "v3.19.0",
		Image: "alpine/helm:3.19.0", ImageBinary: "/usr/bin/helm"},
}

// devPinned are tools this repository's own tests use (e.g. to lint the CI templates it ships),
// not pipeline stages: they have no image, and `tollgate tools install` leaves them out. The
// tests install them with Installer.Install(DevTool(name)).
var devPinned = [...]Tool{
	{Name: "actionlint", Module: "github.com/rhysd/actionlint", Package: "github.com/rhysd/actionlint/cmd/actionlint", Version: "v1.7.12"},
}

// DevTool returns the pinned development tool of that name.
func DevTool(name string) (Tool, error) {
	for _, t := range devPinned {
		if t.Name == name {
			return t, nil
		}
	}
	return Tool{}, fmt.Errorf("unknown development tool %q (known: actionlint)", name)
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
	return Tool{}, fmt.Errorf("unknown tool %q (known: %s)", name, strings.Join(names(), ", "))
}

func names() []string {
	var n []string
	for _, t := range All() {
		n = append(n, t.Name)
	}
	return n
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
